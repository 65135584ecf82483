"""Same seed: identical losses, iteration by iteration; the thread count
of the environment no longer matters once the config fixes it."""
import json

import pytest
from mmengine.hooks import Hook
from rel_helpers import build_runner, start_train, train_env, write_tiny_config

from seco_mm.engine.hooks.random_state_hook import (get_random_state,
                                                    set_random_state)


class _LossRecorder(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({k: float(v) for k, v in outputs.items()
                            if k.startswith('loss')})


def _losses(clip_dir, tmp_path, name, seed):
    cfg = write_tiny_config(str(tmp_path / f'{name}.py'), clip_dir,
                            num_workers=1, max_epochs=1)
    runner = build_runner(cfg, str(tmp_path / name),
                          randomness=dict(seed=seed, deterministic=True))
    recorder = _LossRecorder()
    runner.register_hook(recorder)
    runner.train()
    return recorder.losses


@pytest.mark.slow
def test_same_seed_same_losses(clip_dir, tmp_path):
    first = _losses(clip_dir, tmp_path, 'a', seed=0)
    second = _losses(clip_dir, tmp_path, 'b', seed=0)
    other = _losses(clip_dir, tmp_path, 'c', seed=1)
    assert len(first) == 2 and set(first[0]) == {
        'loss', 'loss_inter', 'loss_intra', 'loss_order'}
    assert first == second  # exactly equal floats
    assert first != other  # the comparison can fail: the seed matters


def test_random_state_roundtrip_through_a_checkpoint(tmp_path):
    """The saved generator state survives torch.save/torch.load with
    weights_only=True and reproduces the same draws."""
    import random

    import numpy as np
    import torch
    state = get_random_state()
    expected = (random.random(), np.random.rand(3), torch.rand(3))
    torch.save({'rng_state': state}, str(tmp_path / 'rng.pth'))
    random.random(), np.random.rand(7), torch.rand(5)  # move on
    loaded = torch.load(str(tmp_path / 'rng.pth'), weights_only=True)
    set_random_state(loaded['rng_state'])
    got = (random.random(), np.random.rand(3), torch.rand(3))
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])
    assert torch.equal(got[2], expected[2])


def _losses_in_subprocess(clip_dir, tmp_path, omp, num_threads):
    """Losses of 4 iterations of tools/train.py under OMP_NUM_THREADS=omp,
    the config fixing torch's threads to ``num_threads`` (None: not)."""
    name = f'omp{omp}_threads{num_threads}'
    log = tmp_path / f'{name}.jsonl'
    cfg = write_tiny_config(str(tmp_path / f'{name}.py'), clip_dir, extra=f'''
custom_imports = dict(imports=['seco_mm', 'rel_helpers'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='SeCoMomentumHook', momentum=0.99, cosine=True),
                dict(type='RelLossLogHook', path={str(log)!r})]
default_hooks = dict(threads=dict(num_threads={num_threads}))
''')
    proc = start_train(cfg, str(tmp_path / name),
                       env=train_env(OMP_NUM_THREADS=str(omp),
                                     MKL_NUM_THREADS=str(omp)))
    out = proc.communicate(timeout=600)[0].decode(errors='replace')
    assert proc.returncode == 0, out[-3000:]
    expected = (f'intra-op CPU threads: {num_threads or omp} '
                f'(fixed by SeCoThreadsHook' if num_threads else
                f'intra-op CPU threads: {omp} (from OMP_NUM_THREADS')
    assert expected in out
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize('num_threads', [1, None])
def test_fixed_thread_count_makes_omp_num_threads_irrelevant(
        clip_dir, tmp_path, num_threads):
    """OMP_NUM_THREADS=1 vs 2: convolution reductions split over a
    different number of threads round differently, and the runs drift
    apart from the first iteration on. With default_hooks.threads
    .num_threads set, both runs use that many threads and agree exactly;
    without it (None) they differ, which shows the comparison can fail."""
    one = _losses_in_subprocess(clip_dir, tmp_path, 1, num_threads)
    two = _losses_in_subprocess(clip_dir, tmp_path, 2, num_threads)
    assert [r['iter'] for r in one] == [1, 2, 3, 4]
    if num_threads is None:
        assert one != two
    else:
        assert one == two  # exactly equal floats, every term
