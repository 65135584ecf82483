"""A NaN/Inf loss is caught at its iteration, before the optimizer step."""
import logging
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from rel_helpers import build_runner, write_tiny_config

from seco_mm.engine.checkpoint_io import check_checkpoint_file
from seco_mm.engine.hooks import NonFiniteLossError


def _inject(runner, head: str, at_iters, value=float('nan')):
    """Make ``model.<head>.loss`` return ``value`` at 1-based iterations."""
    module = getattr(runner.model, head)
    original = module.loss

    def loss(*args, **kwargs):
        out = original(*args, **kwargs)
        if runner.iter + 1 in at_iters:
            out = {k: (v * value if k.startswith('loss') else v)
                   for k, v in out.items()}
        return out

    module.loss = loss


class _Recorder(Hook):
    """Copies of the model state after every iteration."""

    priority = 'LOWEST'

    def __init__(self):
        self.states = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        # runner.iter is still the 0-based index of this iteration here
        self.states[runner.iter + 1] = {
            k: v.detach().clone() for k, v in runner.model.state_dict(
            ).items()}


def _runner(tmp_path, clip_dir, **options):
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), clip_dir, max_epochs=2)
    return build_runner(cfg, str(tmp_path / 'work'), **options)


@pytest.mark.slow
def test_nan_stops_the_run_before_the_step(clip_dir, tmp_path):
    runner = _runner(tmp_path, clip_dir)
    _inject(runner, 'inter_head', at_iters={3})  # epoch 2, batch 1
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    msg = str(info.value)
    assert 'non-finite loss at iteration 3 (epoch 2, batch 1)' in msg
    assert 'loss_inter=nan' in msg
    assert 'loss_intra' not in msg and 'loss_order' not in msg
    ckpt_path = osp.join(str(tmp_path / 'work'), 'epoch_1.pth')
    assert f'Last checkpoint: {ckpt_path}' in msg
    assert runner.iter == 2  # iteration 3 never completed
    # no NaN reached the weights: they are still those of the checkpoint
    check_checkpoint_file(ckpt_path)
    ckpt = torch.load(ckpt_path, map_location='cpu')
    with open(osp.join(str(tmp_path / 'work'), 'last_checkpoint')) as f:
        assert f.read() == ckpt_path
    for name, param in runner.model.named_parameters():
        assert torch.isfinite(param).all(), name
        assert torch.equal(param.detach(), ckpt['state_dict'][name]), name
    for state in runner.optim_wrapper.optimizer.state.values():
        assert all(torch.isfinite(t).all() for t in state.values()
                   if torch.is_tensor(t))


@pytest.mark.slow
def test_inf_in_order_loss_is_named(clip_dir, tmp_path):
    runner = _runner(tmp_path, clip_dir)
    _inject(runner, 'order_head', at_iters={1}, value=float('inf'))
    with pytest.raises(NonFiniteLossError,
                       match=r'iteration 1 \(epoch 1, batch 1\): '
                       r'loss_order=inf.*No checkpoint was saved'):
        runner.train()


@pytest.mark.slow
def test_skip_mode_leaves_weights_and_buffers_untouched(clip_dir, tmp_path):
    runner = _runner(tmp_path, clip_dir,
                     **{'default_hooks.nonfinite_loss.action': 'skip'})
    recorder = _Recorder()
    runner.register_hook(recorder)
    _inject(runner, 'intra_head', at_iters={2})
    runner.train()
    assert runner.iter == 4  # the run went on to its end
    before, after = recorder.states[1], recorder.states[2]
    ema_param = 'momentum_encoder.module.'
    for name, value in after.items():
        if name.startswith(ema_param) and name.endswith(('weight', 'bias')):
            continue  # the EMA still blends in the (unchanged) query weights
        if name == 'momentum_encoder.steps':
            continue  # counts EMA updates
        assert torch.equal(value, before[name]), name  # queue, ptr, BN, ...
    # the step after the skip trains normally
    assert not torch.equal(recorder.states[3]['backbone.conv1.conv.weight'],
                           after['backbone.conv1.conv.weight'])
    assert all(torch.isfinite(v).all() for v in recorder.states[4].values()
               if v.is_floating_point())
    # the file this runner's logger writes to (mmengine reuses a logger, and
    # its file, when two runners start in the same second in one process)
    log_file = next(h.baseFilename for h in runner.logger.handlers
                    if isinstance(h, logging.FileHandler))
    with open(log_file) as f:
        log = f.read()
    assert ('non-finite loss at iteration 2 (epoch 1, batch 2): '
            'loss_intra=nan; skipping this step') in log
    assert 'skipped_steps: 1' in log


@pytest.mark.slow
def test_skip_mode_gives_up_after_consecutive_failures(clip_dir, tmp_path):
    runner = _runner(
        tmp_path, clip_dir,
        **{'default_hooks.nonfinite_loss.action': 'skip',
           'default_hooks.nonfinite_loss.max_consecutive_skips': 2})
    _inject(runner, 'inter_head', at_iters={1, 2, 3, 4})
    with pytest.raises(NonFiniteLossError, match=r'iteration 3 .*3 non-finite'
                       r' iterations in a row \(max_consecutive_skips=2\)'):
        runner.train()
