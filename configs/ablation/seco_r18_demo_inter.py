# Ablation (paper Table 1 style) on the demo set: inter-frame task only.
# Same data, budget and probe as configs/seco_r18_demo.py.
_base_ = ['../seco_r18_demo.py']
model = dict(intra_head=None, order_head=None)
