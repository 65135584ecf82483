# UCF101 split 1 fine-tuning from a SeCo backbone: the paper's protocol
# (section 4 of the paper, and the reference downstream/finetune code).
#
# TSN R50, 7 segments x 1 frame, dropout 0.9, all BN frozen but the first
# (partial BN), SGD Nesterov lr 1e-3 (batch 256 = 8 GPUs x 32), momentum 0.9,
# weight decay 1e-4, steps x0.1 at epochs 50 and 100 of 150, gradient clip 40.
# Train views: short side 256, RandomResizedCrop area (0.2, 1) -> 224, colour
# jitter (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale p 0.2, Gaussian blur
# sigma (0.1, 2) p 0.5, flip (the same draw for every frame of a clip).
# Test: 20 frames x 3 crops of 256 at short side 256, scores averaged.
#
# The backbone is read from work_dirs/seco_r50_kinetics/backbone.pth, where these write it
# (tools/train.py's default work dir for configs/seco_r50_kinetics.py):
#
#   python tools/export_backbone.py work_dirs/seco_r50_kinetics/epoch_400.pth \
#       work_dirs/seco_r50_kinetics/backbone.pth
#   python tools/train.py configs/downstream/tsn_r50_finetune_ucf101_split1.py
#   python tools/test.py configs/downstream/tsn_r50_finetune_ucf101_split1.py \
#       work_dirs/tsn_r50_finetune_ucf101_split1/best_acc_top1_epoch_N.pth
#
# (N: the best validation epoch; mmaction2's CheckpointHook keeps the best
# checkpoint under that name, and epoch_150.pth is the last one.)
# Another backbone: --cfg-options model.backbone.init_cfg.checkpoint=PATH
#
# Data in mmaction2's layout (tools/data/ucf101 of mmaction2): videos under
# data/ucf101/videos, lists data/ucf101/ucf101_{train,val}_split_1_videos.txt.
_base_ = [
    'mmaction::recognition/tsn/'
    'tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py'
]
custom_imports = dict(imports=['seco_mm'], allow_failed_imports=False)

# exported SeCo backbone (mmaction layout); override with --cfg-options
# model.backbone.init_cfg.checkpoint=PATH
# (model.backbone.init_cfg=None: random-init baseline, Kaiming convs, BN 1)
backbone_checkpoint = 'work_dirs/seco_r50_kinetics/backbone.pth'
num_classes = 101
num_segments = 7

model = dict(
    backbone=dict(
        pretrained=None,  # a string here would replace init_cfg
        norm_eval=False,
        partial_bn=True,  # freeze every BN but the first
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint,
                      prefix='backbone.')),
    cls_head=dict(num_classes=num_classes, dropout_ratio=0.9,
                  average_clips='prob'))

dataset_type = 'VideoDataset'
data_root = 'data/ucf101/videos'
ann_file_train = 'data/ucf101/ucf101_train_split_1_videos.txt'
ann_file_val = 'data/ucf101/ucf101_val_split_1_videos.txt'

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.2, 1.0),
         aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='RandomColorJitter', brightness=0.4, contrast=0.4,
         saturation=0.4, hue=0.1, prob=0.8),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='RandomGaussianBlur', sigma_range=(0.1, 2.0), prob=0.5),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=20,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=32,
    dataset=dict(type=dataset_type, ann_file=ann_file_train,
                 data_prefix=dict(video=data_root), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    dataset=dict(type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(video=data_root), pipeline=val_pipeline,
                 test_mode=True))
test_dataloader = dict(
    batch_size=1,
    dataset=dict(type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(video=data_root), pipeline=test_pipeline,
                 test_mode=True))

max_epochs = 150
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, nesterov=True,
                   weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[50, 100], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
auto_scale_lr = dict(enable=False, base_batch_size=256)
