# Paper's optimisation: SGD momentum 0.9, weight decay 1e-4, lr 0.1 per 256
# samples (0.2 at global batch 512), 5 warm-up epochs from lr / 100 (the
# reference's warmup_multiplier=100) then cosine, 400 epochs.
max_epochs = 400
warmup_epochs = 5
global_batch = 512
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1 * global_batch / 256, momentum=0.9,
                   weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=0, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# lr is linear in the real global batch (processes x batch_size): mmengine
# rescales it when the Runner starts and logs "LR is set based on batch
# size of 512 and the current batch size is ...". One process at
# batch_size 128 thus trains at lr 0.05, the paper's lr per sample.
auto_scale_lr = dict(enable=True, base_batch_size=global_batch)
