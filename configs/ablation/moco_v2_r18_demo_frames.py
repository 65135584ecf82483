# Ablation baseline on the demo set: MoCo v2 on frames. One frame a per clip,
# two augmented views (q, k_same), InfoNCE against the queue; no temporal
# task. The sampler decodes that one frame only (one_frame=True) and the
# model gets (B, 2, 3, H, W) inputs; the rest is configs/seco_r18_demo.py.
_base_ = ['../seco_r18_demo.py']
model = dict(intra_head=None, order_head=None, inter_keys='same_frame')
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SeCoSampleFrames', one_frame=True),
    dict(type='SeCoMultiView', view_pipeline={{_base_.view_pipeline}}),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]))
