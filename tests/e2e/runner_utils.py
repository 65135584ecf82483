"""Build tiny SeCo runner configs over the tiny test videos."""
import os.path as osp

from mmengine.config import Config

from tests.conftest import ROOT, tiny_seco_model_cfg, tiny_train_pipeline


def tiny_runner_cfg(video_dir, work_dir, max_epochs=2, batch_size=2,
                    queue_len=16, size=32, seed=0):
    """configs/seco_r18_demo.py shrunk to seconds: R18, 32 px, batch 2."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'seco_r18_demo.py'))
    cfg.model = tiny_seco_model_cfg(queue_len=queue_len)
    cfg.train_dataloader.update(
        batch_size=batch_size, num_workers=0, persistent_workers=False,
        prefetch_factor=None)
    cfg.train_dataloader.dataset.update(
        ann_file=str(video_dir / 'train.txt'),
        data_prefix=dict(video=str(video_dir)),
        pipeline=tiny_train_pipeline(size))
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True,
             begin=0, end=max_epochs, convert_to_iter_based=True)]
    cfg.optim_wrapper.optimizer.lr = 0.01
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=10)
    cfg.randomness = dict(seed=seed)
    cfg.log_level = 'WARNING'
    return cfg
