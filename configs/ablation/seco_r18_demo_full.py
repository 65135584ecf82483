# Ablation on the demo set: full SeCo (inter + intra + order), weights 1/1/1;
# the same model as configs/seco_r18_demo.py, named for the ablation table.
_base_ = ['../seco_r18_demo.py']
model = dict(
    inter_head=dict(loss_weight=1.0),
    intra_head=dict(loss_weight=1.0),
    order_head=dict(loss_weight=1.0))
