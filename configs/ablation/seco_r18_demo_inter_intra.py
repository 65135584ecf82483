# Ablation on the demo set: inter-frame + intra-frame tasks, no order task.
_base_ = ['../seco_r18_demo.py']
model = dict(order_head=None)
