"""seco_mm.utils.run_config: short runs resize the schedule, num_workers=0
alone is accepted."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim.scheduler import CosineAnnealingLR

from seco_mm.utils.run_config import (allow_zero_workers,
                                      fit_schedulers_to_run, run_length)
from tests.conftest import ROOT

DEMO = osp.join(ROOT, 'configs', 'seco_r18_demo.py')


def _demo(**options):
    cfg = Config.fromfile(DEMO)
    original = run_length(cfg)
    cfg.merge_from_dict(options)
    return cfg, original


def test_short_run_resizes_the_cosine_schedule_and_keeps_the_warmup():
    cfg, original = _demo(**{'train_cfg.max_epochs': 3})
    assert original == ('epochs', 50)
    messages = fit_schedulers_to_run(cfg, original)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 1)  # warm-up untouched
    assert (cosine.begin, cosine.end, cosine.T_max) == (1, 3, 2)
    assert len(messages) == 1 and 'end 50 -> 3, T_max 49 -> 2' in messages[0]
    # lr in the last epoch of the 3-epoch run: half-way down the resized
    # cosine (mmengine steps it at epochs 1 and 2), vs hardly moved (-0.3 %)
    # on the 49-epoch cosine of the config file
    def last_epoch_lr(t_max, end):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = CosineAnnealingLR(opt, T_max=t_max, begin=1, end=end,
                                  eta_min=0)
        for _ in range(2):
            sched.step()
        return opt.param_groups[0]['lr']

    assert last_epoch_lr(cosine.T_max, cosine.end) == pytest.approx(0.5)
    assert last_epoch_lr(49, 50) > 0.99


def test_run_shorter_than_the_warmup_leaves_out_what_never_starts():
    cfg, original = _demo(**{'train_cfg.max_epochs': 1})
    messages = fit_schedulers_to_run(cfg, original)
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR']
    assert 'CosineAnnealingLR) begins at epoch 1' in messages[0]


def test_unchanged_length_or_explicit_schedule_is_left_alone():
    cfg, original = _demo()
    before = [dict(s) for s in cfg.param_scheduler]
    assert fit_schedulers_to_run(cfg, original) == []
    assert [dict(s) for s in cfg.param_scheduler] == before
    # a schedule given on the command line (end != the file's length) wins
    cfg, original = _demo(**{
        'train_cfg.max_epochs': 10,
        'param_scheduler': [dict(type='CosineAnnealingLR', T_max=20, begin=0,
                                 end=20, by_epoch=True)]})
    assert fit_schedulers_to_run(cfg, original) == []
    assert cfg.param_scheduler[0]['end'] == 20


def test_iteration_based_run():
    cfg = Config(dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=1000),
        param_scheduler=dict(type='CosineAnnealingLR', by_epoch=False,
                             begin=0, end=1000, T_max=1000)))
    original = run_length(cfg)
    cfg.train_cfg.max_iters = 100
    fit_schedulers_to_run(cfg, original)
    assert (cfg.param_scheduler.end, cfg.param_scheduler.T_max) == (100, 100)


def test_zero_workers_alone_is_accepted():
    cfg, _ = _demo(**{'train_dataloader.num_workers': 0})
    loader = cfg.train_dataloader
    kwargs = dict(num_workers=0, prefetch_factor=loader.prefetch_factor,
                  persistent_workers=loader.persistent_workers)
    with pytest.raises(ValueError):  # what PyTorch says without the fix
        torch.utils.data.DataLoader(list(range(4)), **kwargs)
    messages = allow_zero_workers(cfg)
    assert loader.prefetch_factor is None
    assert loader.persistent_workers is False
    assert messages == ['train_dataloader.num_workers=0: set '
                        'prefetch_factor=None, persistent_workers=False '
                        '(PyTorch accepts them only with worker processes)']
    kwargs = dict(num_workers=0, prefetch_factor=loader.prefetch_factor,
                  persistent_workers=loader.persistent_workers)
    assert len(list(torch.utils.data.DataLoader(list(range(4)),
                                                **kwargs))) == 4
    # loaders with workers are untouched
    cfg, _ = _demo()
    assert allow_zero_workers(cfg) == []
    assert cfg.train_dataloader.prefetch_factor == 2
