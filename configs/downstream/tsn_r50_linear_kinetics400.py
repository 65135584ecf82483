# Kinetics-400 linear classification on frozen SeCo features (TSN-style).
#
# mmaction2's TSN R50 1x1x8 Kinetics-400 config with the backbone loaded from
# tools/export_backbone.py and frozen: frozen_stages=4 (stem + 4 stages, no
# gradients) and norm_eval=True (BN in eval mode, running stats fixed); only
# the linear TSN head (avg-pool -> fc, no dropout) is trained. Optimiser:
# SGD lr 0.1 for a batch of 256 (8 GPUs x 32), momentum 0.9, no weight decay,
# cosine over 100 epochs. The step size that works depends on the scale of
# the pooled features (their norm was ~18-40 for SeCo and random ResNets on
# the demo set, where lr 1 with a batch of 16 already diverged; MoCo's lr 30
# assumes far smaller features).
# Tune it with --cfg-options optim_wrapper.optimizer.lr=...
#
#   python tools/export_backbone.py work_dirs/seco_r50_kinetics/epoch_400.pth \
#       work_dirs/seco_r50_kinetics/backbone.pth
#   python tools/train.py configs/downstream/tsn_r50_linear_kinetics400.py
#
# (another backbone: --cfg-options model.backbone.init_cfg.checkpoint=PATH)
#
# The paper's own linear protocol (frozen features of 30 frames + linear SVM)
# is tools/linear_probe.py.
_base_ = [
    'mmaction::recognition/tsn/'
    'tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py'
]
custom_imports = dict(imports=['seco_mm'], allow_failed_imports=False)

# exported SeCo backbone (mmaction layout); override with --cfg-options
# model.backbone.init_cfg.checkpoint=PATH
# (model.backbone.init_cfg=None: random-init baseline, Kaiming convs, BN 1)
backbone_checkpoint = 'work_dirs/seco_r50_kinetics/backbone.pth'

model = dict(
    backbone=dict(
        pretrained=None,  # a string here would replace init_cfg
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint,
                      prefix='backbone.')),
    cls_head=dict(dropout_ratio=0.0, init_std=0.01))

max_epochs = 100
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0,
         by_epoch=True, begin=0, end=max_epochs)
]
auto_scale_lr = dict(enable=False, base_batch_size=256)
