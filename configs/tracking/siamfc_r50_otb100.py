# SiamFC on a SeCo ResNet-50 for OTB-100, paper scale (docs/tracking.md):
# exemplar 127 / search 255, context 0.5, total stride 8, score map upsampled
# x16 (bicubic), 3 scales (step 1.0375, penalty 0.9745, lr 0.59), cosine
# window 0.176; training with the balanced logistic loss (positives within
# 16 px), SGD lr 1e-2 -> 1e-5 geometric over 50 epochs, batch 8, on GOT-10k.
# Backbone as public ResNet-SiamFC practice: frozen, output stride 8 by
# dilating layer3 (dilation 2, stride 1) instead of striding, 1x1 convs to
# 256 channels on each branch, template feature centre cropped (SiamRPN++).
#
# Data (mmtracking layout):
#   data/OTB100/<Seq>/img/0001.jpg, data/OTB100/<Seq>/groundtruth_rect.txt,
#   data/OTB100/annotations/otb100_infos.txt (mmtracking's info file)
#   data/got10k/train/list.txt, data/got10k/train/GOT-10k_Train_000001/...
#
#   python tools/train_tracking.py configs/tracking/siamfc_r50_otb100.py \
#       --checkpoint seco_r50_backbone.pth --work-dir work_dirs/siamfc_r50
#   python tools/eval_tracking.py configs/tracking/siamfc_r50_otb100.py \
#       --checkpoint seco_r50_backbone.pth \
#       --load-from work_dirs/siamfc_r50/epoch_50.pth \
#       --data data/OTB100 --work-dir work_dirs/siamfc_r50_otb100
# The tracking values are SiamFC's defaults (DEFAULT_TEST_CFG in
# seco_mm/tracking/models/siamfc.py, the SiamFCHead and SiamFCPairCrop
# arguments); the `_delete_` entries below drop the demo's overrides (small
# crops, the exact-matcher head) so that those defaults apply.
_base_ = ['./siamfc_r18_demo.py']

model = dict(
    backbone=dict(
        depth=50,
        num_stages=3,  # conv1..layer3
        strides=(1, 2, 1),  # layer3 not strided ...
        dilations=(1, 1, 2),  # ... but dilated: output stride 8
        out_indices=(2, )),
    # To use layer4 as well: num_stages=4, strides=(1, 2, 1, 1),
    # dilations=(1, 1, 2, 4), out_indices=(3, ), head in_channels=2048.
    head=dict(
        _delete_=True,
        type='SiamFCHead',
        in_channels=1024,
        # template feature 16x16 (127 / 8) -> central 8x8, the target region;
        # score map 32 - 8 + 1 = 25 x 25, centred on zero displacement
        template_crop=8),
    train_cfg=dict(_delete_=True),
    test_cfg=dict(_delete_=True))

train_pipeline = [
    dict(type='LoadSOTPairImages'),
    dict(type='SiamFCPairCrop'),  # exemplar 127, search 255, context 0.5
    dict(type='PackSiamFCInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type='SOTPairDataset',
        dataset=dict(type='GOT10kDataset', data_root='data/got10k',
                     split='train'),
        pairs_per_seq=1,
        max_frame_gap=100,
        pipeline=train_pipeline))

max_epochs = 50
lr_start, lr_end = 1e-2, 1e-5
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=lr_start, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(
        type='ExponentialLR',
        gamma=(lr_end / lr_start)**(1.0 / max_epochs),
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=5, max_keep_ckpts=3))

test_dataset = dict(type='OTBDataset', data_root='data/OTB100', ann_file='')
