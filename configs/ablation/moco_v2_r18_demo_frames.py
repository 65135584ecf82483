# Ablation baseline on the demo set: MoCo v2 on frames. One frame a, two
# augmented views (q, k_same), InfoNCE against the queue; no temporal task.
# The sampler still decodes b and c (unused: only key view k_same is
# encoded), so the data loading cost is SeCo's.
_base_ = ['../seco_r18_demo.py']
model = dict(intra_head=None, order_head=None, inter_keys='same_frame')
