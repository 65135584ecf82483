# Demo: linear classification on frozen SeCo ResNet-18 features (TSN-style),
# sized to run in a couple of minutes on 2 CPU cores.
#
# The demo set of tools/make_demo_data.py (10 classes, 128x128 clips of 48
# frames, data/demo/{train,val}.txt). Backbone frozen (frozen_stages=4,
# norm_eval=True) and loaded from the exported SeCo backbone; only the
# linear TSN head is trained: 4 segments x 1 frame, random-resized 112 crops
# + flip; validation on 8 frames, centre crop 112.
#
# `make demo` writes the backbone this config reads by default
# (work_dirs/demo/seco_r18_backbone.pth, exported from
# work_dirs/demo/pretrain/epoch_30.pth); then:
#
#   python tools/train.py configs/downstream/tsn_r18_linear_demo.py \
#       --work-dir work_dirs/demo/linear
#   python tools/test.py configs/downstream/tsn_r18_linear_demo.py \
#       work_dirs/demo/linear/epoch_4.pth --work-dir work_dirs/demo/linear
#
# Another backbone: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    'mmaction::recognition/tsn/'
    'tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py'
]
custom_imports = dict(imports=['seco_mm'], allow_failed_imports=False)

# exported SeCo backbone (mmaction layout); override with --cfg-options
# model.backbone.init_cfg.checkpoint=PATH
# (model.backbone.init_cfg=None: random-init baseline, Kaiming convs, BN 1)
backbone_checkpoint = 'work_dirs/demo/seco_r18_backbone.pth'
num_classes = 10
crop_size = 112
num_segments = 4
max_epochs = 4

model = dict(
    backbone=dict(
        depth=18,
        pretrained=None,  # a string here would replace init_cfg
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint,
                      prefix='backbone.')),
    cls_head=dict(in_channels=512, num_classes=num_classes,
                  dropout_ratio=0.0, init_std=0.01, average_clips='prob'))

dataset_type = 'VideoDataset'
data_root = 'data/demo/videos'
ann_file_train = 'data/demo/train.txt'
ann_file_val = 'data/demo/val.txt'

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='RandomResizedCrop', area_range=(0.4, 1.0)),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='CenterCrop', crop_size=crop_size),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(type=dataset_type, ann_file=ann_file_train,
                 data_prefix=dict(video=data_root), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(video=data_root), pipeline=val_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=max_epochs, val_begin=1, val_interval=max_epochs)
optim_wrapper = dict(
    # pooled SeCo R18 features have norm ~18 here: lr 0.1 overshoots (loss
    # > 40 in the first epoch), 0.01 is stable
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0,
         by_epoch=True, begin=0, end=max_epochs)
]
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None))
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=0)
