"""Impossible configs are rejected before training, naming the key."""
import os.path as osp

import pytest
import seco_mm  # noqa: F401
from mmengine.config import Config
from rel_helpers import REPO, build_runner, write_tiny_config

from seco_mm.engine.config_checks import (ConfigError,
                                          check_batch_fits_dataset,
                                          check_train_config)
from tests.conftest import load_tool

# (override, full key, text the component's own check raises at Runner build)
BAD_VALUES = [
    ({'model.queue_len': 0}, 'model.queue_len', 'model.queue_len'),
    ({'model.queue_len': '1024'}, 'model.queue_len', 'model.queue_len'),
    ({'model.feat_dim': -1}, 'model.feat_dim', 'model.feat_dim'),
    ({'model.inter_head.temperature': 0.0}, 'model.inter_head.temperature',
     'temperature must be > 0'),
    ({'model.intra_head.temperature': -0.1}, 'model.intra_head.temperature',
     'temperature must be > 0'),
    ({'custom_hooks': [dict(type='SeCoMomentumHook', momentum=1.5)]},
     'custom_hooks[0].momentum', 'SeCoMomentumHook.momentum must be in'),
    ({'custom_hooks': [dict(type='SeCoMomentumHook', momentum=-0.1)]},
     'custom_hooks[0].momentum', 'SeCoMomentumHook.momentum must be in'),
    ({'default_hooks.nonfinite_loss.action': 'ignore'},
     'default_hooks.nonfinite_loss.action', "action must be 'stop' or"),
]


@pytest.fixture
def tiny_cfg(clip_dir, tmp_path):
    return write_tiny_config(str(tmp_path / 'cfg.py'), clip_dir)


@pytest.mark.parametrize('override, key, build_msg', BAD_VALUES)
def test_bad_value_rejected_up_front_and_at_runner_build(
        tiny_cfg, tmp_path, override, key, build_msg):
    cfg = Config.fromfile(tiny_cfg)
    cfg.merge_from_dict(override)
    with pytest.raises(ConfigError, match=key.replace('[', r'\[').replace(
            ']', r'\]')):
        check_train_config(cfg)
    # the component itself refuses too when the Runner builds it
    with pytest.raises((ValueError, TypeError), match=build_msg):
        build_runner(tiny_cfg, str(tmp_path / 'work'), **override)


@pytest.mark.parametrize('override, key', [
    ({'train_dataloader.batch_size': 0}, 'train_dataloader.batch_size'),
    ({'train_dataloader.batch_size': 2.0}, 'train_dataloader.batch_size'),
    ({'train_dataloader.num_workers': -1}, 'train_dataloader.num_workers'),
    ({'optim_wrapper.optimizer.lr': 0}, 'optim_wrapper.optimizer.lr'),
    ({'optim_wrapper.optimizer.lr': float('nan')},
     'optim_wrapper.optimizer.lr'),
    ({'train_cfg.max_epochs': 0}, 'train_cfg.max_epochs'),
    ({'model.inter_head.loss_weight': -1}, 'model.inter_head.loss_weight'),
    ({'train_dataloader.dataset.max_bad_fraction': 2},
     'train_dataloader.dataset.max_bad_fraction'),
])
def test_other_impossible_values_name_the_key(tiny_cfg, override, key):
    cfg = Config.fromfile(tiny_cfg)
    cfg.merge_from_dict(override)
    with pytest.raises(ConfigError, match=key) as info:
        check_train_config(cfg)
    assert info.value.key == key


def test_valid_configs_pass(tiny_cfg):
    check_train_config(Config.fromfile(tiny_cfg))
    for name in ('seco_r18_demo.py', 'seco_r50_kinetics.py'):
        check_train_config(Config.fromfile(osp.join(REPO, 'configs', name)))


def test_batch_larger_than_dataset_with_drop_last(tiny_cfg, monkeypatch):
    cfg = Config.fromfile(tiny_cfg)  # 4 clips, drop_last=True
    assert cfg.train_dataloader.drop_last
    assert check_batch_fits_dataset(cfg) == 4
    cfg.train_dataloader.batch_size = 5
    with pytest.raises(ConfigError, match=r'train_dataloader.batch_size is '
                       r'larger than the training set \(4 samples\) while '
                       r'drop_last=True.*must be <= 4, got 5'):
        check_batch_fits_dataset(cfg)
    cfg.train_dataloader.drop_last = False  # one short batch is fine
    assert check_batch_fits_dataset(cfg) == 0  # not even built
    cfg.train_dataloader.drop_last = True
    cfg.train_dataloader.batch_size = 3
    monkeypatch.setenv('WORLD_SIZE', '2')  # 2 samples per process
    with pytest.raises(ConfigError, match='2 samples per process'):
        check_batch_fits_dataset(cfg)


def test_train_tool_rejects_before_building_the_runner(tiny_cfg, tmp_path):
    tool = load_tool('train')
    work = tmp_path / 'work'
    with pytest.raises(ConfigError, match='train_dataloader.batch_size'):
        tool.main([tiny_cfg, '--work-dir', str(work), '--cfg-options',
                   'train_dataloader.batch_size=64'])
    assert not work.exists()  # nothing was built or written
