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
        out_channels=128),  # D: the queue and the order head follow it
    inter_head=dict(type='InterFrameHead', temperature=0.1, loss_weight=1.0),
    intra_head=dict(type='IntraFrameHead', temperature=0.1, loss_weight=1.0),
    # a head set to None (or loss_weight=0) is not built nor computed
    order_head=dict(type='OrderHead', loss_weight=1.0),
    queue_len=131072,
    # the reference shuffles and forwards the three key views one at a time
    # (three BN batches of B); 'batched' (one 3B batch) is faster
    key_forward='per_view',
    # one process emulates 4 devices' BN (the paper's 4 GPUs): split BN in
    # both encoders, keys shuffled across the groups; ignored under DDP
    split_bn_groups=4,
    # The paper starts from MoCo v2 ImageNet weights; set a path to do so.
    moco_checkpoint=None,
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'))
