"""seco_mm.tracking.apis.jobs: worker planning, fingerprints, job pool."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import set_random_seed

from seco_mm.tracking.apis import (build_tracker, can_fork, plan_workers,
                                   run_jobs, set_backbone_checkpoint,
                                   state_fingerprint)
from tests.conftest import ROOT

CFG = f'{ROOT}/configs/tracking/siamfc_r18_demo.py'


def test_plan_workers():
    assert plan_workers(7, 2) == ((2, 1) if can_fork() else (1, 2))
    if can_fork():
        assert plan_workers(7, 8) == (7, 1)  # never more than the jobs
        assert plan_workers(3, 8, workers=2) == (2, 4)
        assert plan_workers(5, 1, workers=2) == (2, 1)
    assert plan_workers(5, 1) == (1, 1)
    assert plan_workers(5, 4, device='cuda') == (1, 4)
    assert plan_workers(5, 4, workers=1) == (1, 4)


def _model(seed, cfg):
    set_random_seed(seed)
    return build_tracker(cfg)


def test_fingerprint_names_the_weights_and_settings():
    cfg = Config.fromfile(CFG)
    set_backbone_checkpoint(cfg, None)
    a, b, c = _model(0, cfg), _model(0, cfg), _model(1, cfg)
    assert state_fingerprint(a) == state_fingerprint(b)
    assert state_fingerprint(a) != state_fingerprint(c)  # random backbone
    with torch.no_grad():
        b.head.adjust_search[0].weight[0, 0, 0, 0] += 1e-7
    assert state_fingerprint(a) != state_fingerprint(b)
    b = _model(0, cfg)
    b.test_cfg = dict(b.test_cfg, window_influence=0.2)
    assert state_fingerprint(a) != state_fingerprint(b)


def _square_and_threads(x):
    if x == 'boom':
        raise ValueError('job failed: boom')
    return x * x, torch.get_num_threads()


@pytest.mark.parametrize('workers', [1, 2])
def test_run_jobs_runs_every_item_once(workers):
    out = dict(run_jobs(_square_and_threads, range(5), workers=workers,
                        threads=1))
    assert {k: v[0] for k, v in out.items()} == {i: i * i for i in range(5)}
    if workers > 1 and can_fork():
        assert {v[1] for v in out.values()} == {1}
    with pytest.raises(ValueError, match='boom'):
        dict(run_jobs(_square_and_threads, [1, 'boom', 2], workers=workers))


def _die_on_three(x):
    if x == 3:
        os._exit(7)  # a worker killed mid-job (OOM killer, segfault)
    return x


@pytest.mark.skipif(not can_fork(), reason='forked workers only on Linux')
def test_a_dead_worker_is_an_error_not_a_hang():
    with pytest.raises(RuntimeError, match='died while running job 3'):
        dict(run_jobs(_die_on_three, range(5), workers=2))
    # the module is usable again afterwards
    out = dict(run_jobs(_square_and_threads, [2, 4], workers=2))
    assert {k: v[0] for k, v in out.items()} == {2: 4, 4: 16}
