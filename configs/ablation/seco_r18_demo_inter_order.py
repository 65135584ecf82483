# Ablation on the demo set: inter-frame + order tasks, no intra-frame task.
_base_ = ['../seco_r18_demo.py']
model = dict(intra_head=None)
