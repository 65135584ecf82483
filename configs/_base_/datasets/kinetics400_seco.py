# SeCo sampling on Kinetics-400 videos (paper Sec. 3.2): query frame a from one
# half, keys b <= c from the other half, order bit s; four MoCo v2 views.
dataset_type = 'SeCoVideoDataset'
data_root = 'data/kinetics400/videos_train'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
crop_size = 224

view_pipeline = [
    dict(type='RandomResizedCrop', area_range=(0.2, 1.0)),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    # mmcv's RandomApply gates each colour step (MoCo v2's probabilities);
    # prob=1.0 inside: the step itself then draws no extra random number
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='RandomColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.4, hue=0.1, prob=1.0)]),
    dict(type='RandomApply', prob=0.2,
         transforms=[dict(type='RandomGrayscale', prob=1.0)]),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='RandomGaussianBlur', sigma_range=(0.1, 2.0), prob=1.0)]),
    dict(type='Flip', flip_ratio=0.5),
]
# Storage: data_root may be a URL (http(s)://, s3://); the open and decode
# steps read through mmengine's fileio. For object storage give
# backend_args, e.g. dict(backend='petrel') (petrel_client installed).
backend_args = None
train_pipeline = [
    # open -> sample -> decode, as mmaction2 splits it (docs/data.md);
    # SeCoPyAVInit / SeCoPyAVDecode use PyAV instead of decord
    dict(type='SeCoDecordInit', backend_args=backend_args),
    # keyframe_aware=True: draw a, b, c among each half's keyframes, ~3x
    # cheaper decoding on long-GOP videos (an approximation; README
    # "Performance"); num_grid=30: the reference's 30-frame distribution
    dict(type='SeCoSampleIndices', keyframe_aware=False),
    dict(type='SeCoDecordDecode'),
    dict(type='SeCoMultiView', view_pipeline=view_pipeline),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs', algorithm_keys=('seco_order', )),
]
train_dataloader = dict(
    batch_size=128,  # per GPU; x 4 GPUs = global batch 512
    num_workers=16,
    persistent_workers=True,
    pin_memory=True,
    prefetch_factor=4,
    drop_last=True,  # equal batches on every rank (needed by shuffling BN)
    # timeout=600 (seconds) makes a stuck decoder stop the run instead of
    # hanging it; PyTorch allows it only with num_workers > 0.
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
