"""Through mmengine's Runner: a config without the momentum hook stops,
resuming with another queue size is refused, an exported backbone given to
``load_from`` fills both encoders."""
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

from tests.e2e.runner_utils import tiny_runner_cfg

pytestmark = pytest.mark.slow


def _backbone_state(state_dict):
    """The query backbone's tensors without their ``backbone.`` prefix
    (what an export holds)."""
    return {k[len('backbone.'):]: v for k, v in state_dict.items()
            if k.startswith('backbone.')}


def test_config_without_momentum_hook_stops_naming_the_fix(tiny_video_dir,
                                                           tmp_path):
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path, max_epochs=1)
    cfg.custom_hooks = []  # e.g. a config that replaced the list
    runner = Runner.from_cfg(cfg)
    with pytest.raises(RuntimeError, match=r"SeCoMomentumHook"):
        runner.train()
    assert runner.iter == 1  # stopped at the second step


def test_resume_with_another_queue_len_is_refused(tiny_video_dir, tmp_path):
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path, max_epochs=1,
                          queue_len=16)
    Runner.from_cfg(cfg).train()
    ckpt = osp.join(cfg.work_dir, 'epoch_1.pth')
    cfg2 = tiny_runner_cfg(tiny_video_dir, tmp_path, max_epochs=2,
                           queue_len=8)
    cfg2.resume, cfg2.load_from = True, ckpt
    runner = Runner.from_cfg(cfg2)
    with pytest.raises(ValueError, match=r'queue_len=16.*queue_len=8'):
        runner.train()


def test_load_from_exported_backbone_fills_both_encoders(tiny_video_dir,
                                                         tmp_path):
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path / 'a', max_epochs=1)
    trained = Runner.from_cfg(cfg)
    trained.train()
    backbone = _backbone_state(trained.model.state_dict())
    exported = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in backbone.items()}}, exported)
    cfg2 = tiny_runner_cfg(tiny_video_dir, tmp_path / 'b', max_epochs=1)
    cfg2.load_from = str(exported)
    runner = Runner.from_cfg(cfg2)
    runner._init_model_weights()
    runner.load_or_resume()
    key_encoder = runner.model.momentum_encoder.module[0].state_dict()
    for k, v in backbone.items():
        assert torch.equal(runner.model.backbone.state_dict()[k], v), k
        assert torch.equal(key_encoder[k], v), k


def test_lr_follows_the_real_batch(tiny_video_dir, tmp_path):
    """auto_scale_lr (inherited from the paper config) rescales lr to the
    real global batch when training starts: 2 samples vs a base of 32."""
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path, max_epochs=1)
    assert cfg.auto_scale_lr.enable and cfg.auto_scale_lr.base_batch_size == 32
    runner = Runner.from_cfg(cfg)
    runner.train()
    group = runner.optim_wrapper.optimizer.param_groups[0]
    assert group['initial_lr'] == pytest.approx(0.01 * 2 / 32)
