# Demo: fine-tuning the exported SeCo ResNet-18 on the demo set, the paper's
# UCF101/HMDB51 protocol shrunk to 2 CPU cores and a few minutes: TSN,
# partial BN (all BN frozen but the first), SGD Nesterov, MultiStepLR,
# gradient clip 40, MoCo-style train views. Smaller than the paper: 3
# segments x 1 frame at 112 (paper: 7 x 224), 3 epochs (paper: 150) at lr
# 1e-2 (paper: 1e-3), dropout 0.5 (paper: 0.9, too strong for 60 steps).
#
# Reads work_dirs/demo/seco_r18_backbone.pth (written by `make demo`):
#
#   python tools/train.py configs/downstream/tsn_r18_finetune_demo.py \
#       --work-dir work_dirs/demo/finetune
_base_ = ['./tsn_r18_linear_demo.py']

max_epochs = 3
crop_size = 112
num_segments = 3

model = dict(
    backbone=dict(frozen_stages=-1, norm_eval=False, partial_bn=True),
    cls_head=dict(dropout_ratio=0.5))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='RandomResizedCrop', area_range=(0.2, 1.0),
         aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    dict(type='RandomColorJitter', brightness=0.4, contrast=0.4,
         saturation=0.4, hue=0.1, prob=0.8),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='RandomGaussianBlur', sigma_range=(0.1, 2.0), prob=0.5),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, nesterov=True,
                   weight_decay=1e-4),
    # the linear base has clip_grad=None: replace it, don't merge
    clip_grad=dict(_delete_=True, max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs - 1], gamma=0.1)
]
default_hooks = dict(
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None))
