"""Same seed, one loading worker: identical losses, iteration by iteration."""
import pytest
from mmengine.hooks import Hook
from rel_helpers import build_runner, write_tiny_config

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
