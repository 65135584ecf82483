# SeCo model (paper Sec. 3): ResNet-50 frame encoder, three projection heads
# (inter / intra / order, 2048-2048-128, L2-normalised), momentum key encoder,
# a queue of 131072 negatives, temperature 0.1, loss weights 1 / 1 / 1.
model = dict(
    type='SeCo',
    backbone=dict(type='ResNet', depth=50, pretrained=None, norm_eval=False),
    neck=dict(
        type='SeCoProjector',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        names=('inter', 'intra', 'order')),
    inter_head=dict(type='InterFrameHead', temperature=0.1, loss_weight=1.0),
    intra_head=dict(type='IntraFrameHead', temperature=0.1, loss_weight=1.0),
    order_head=dict(type='OrderHead', in_channels=128, loss_weight=1.0),
    queue_len=131072,
    feat_dim=128,
    key_forward='batched',
    # The paper starts from MoCo v2 ImageNet weights; set a path to do so.
    moco_checkpoint=None,
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'))
