"""Impossible configs are rejected before training, naming the key."""
import os.path as osp
import re

import pytest
import seco_mm  # noqa: F401
from mmengine.config import Config
from rel_helpers import REPO, build_runner, write_tiny_config

from seco_mm.datasets import AnnotationError
from seco_mm.engine.config_checks import (ConfigError,
                                          check_batch_fits_dataset,
                                          check_train_config,
                                          check_train_dataset)
from tests.conftest import load_tool

# (override, the key as the component's own check names it at Runner build)
BAD_VALUES = [
    ({'model.queue_len': 0}, 'model.queue_len must be a positive int'),
    ({'model.queue_len': '1024'}, 'model.queue_len must be a positive int'),
    ({'model.feat_dim': -1}, 'model.feat_dim=-1 disagrees'),
    ({'model.inter_head.temperature': 0.0},
     'model.inter_head.temperature must be a finite number > 0'),
    ({'model.intra_head.temperature': -0.1},
     'model.intra_head.temperature must be a finite number > 0'),
    ({'model.inter_head.loss_weight': -1},
     'model.inter_head.loss_weight must be a finite number >= 0'),
    ({'model.order_head.loss_weight': float('nan')},
     'model.order_head.loss_weight must be a finite number >= 0'),
    ({'custom_hooks': [dict(type='SeCoMomentumHook', momentum=1.5)]},
     r'SeCoMomentumHook.momentum must be in \[0, 1\]'),
    ({'custom_hooks': [dict(type='SeCoMomentumHook', momentum=-0.1)]},
     r'SeCoMomentumHook.momentum must be in \[0, 1\]'),
    ({'default_hooks.nonfinite_loss.action': 'ignore'},
     "SeCoNonFiniteLossHook.action must be 'stop' or 'skip'"),
]


@pytest.fixture
def tiny_cfg(clip_dir, tmp_path):
    return write_tiny_config(str(tmp_path / 'cfg.py'), clip_dir)


def _build_the_overridden_part(cfg, override):
    """Build what the Runner would build from the overridden keys: the
    model, or the hooks."""
    from mmaction.registry import HOOKS, MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    if any(key.startswith('model.') for key in override):
        return MODELS.build(cfg.model)
    hooks = list(cfg.get('custom_hooks') or [])
    hooks += [h for h in (cfg.get('default_hooks') or {}).values() if h]
    return [HOOKS.build(dict(h)) for h in hooks]


@pytest.mark.parametrize('override, build_msg', BAD_VALUES)
def test_bad_value_rejected_by_its_component_naming_the_key(
        tiny_cfg, override, build_msg):
    """Checked once, by the component when it is built."""
    cfg = Config.fromfile(tiny_cfg)
    cfg.merge_from_dict(override)
    check_train_config(cfg)  # not repeated up front
    with pytest.raises((ValueError, TypeError), match=build_msg):
        _build_the_overridden_part(cfg, override)


@pytest.mark.slow  # a Runner per value
@pytest.mark.parametrize('override, build_msg', BAD_VALUES)
def test_bad_value_rejected_at_runner_build_naming_the_key(
        tiny_cfg, tmp_path, override, build_msg):
    """Checked once, by the component when the Runner builds it."""
    cfg = Config.fromfile(tiny_cfg)
    cfg.merge_from_dict(override)
    check_train_config(cfg)  # not repeated up front
    with pytest.raises((ValueError, TypeError), match=build_msg):
        build_runner(tiny_cfg, str(tmp_path / 'work'), **override)


@pytest.mark.parametrize('override, build_msg', [
    ({'train_dataloader.dataset.max_bad_fraction': 2},
     r'SeCoVideoDataset.max_bad_fraction must be a number in \[0, 1\], '
     'got 2'),
    ({'train_dataloader.dataset.bad_check_min_samples': 0},
     'SeCoVideoDataset.bad_check_min_samples must be a positive int'),
])
def test_bad_dataset_value_rejected_when_the_train_set_is_built(
        tiny_cfg, override, build_msg):
    """tools/train.py builds the training set before the Runner."""
    cfg = Config.fromfile(tiny_cfg)
    cfg.merge_from_dict(override)
    with pytest.raises(ValueError, match=build_msg):
        check_train_dataset(cfg)


@pytest.mark.parametrize('override, key', [
    ({'train_dataloader.batch_size': 0}, 'train_dataloader.batch_size'),
    ({'train_dataloader.batch_size': 2.0}, 'train_dataloader.batch_size'),
    ({'train_dataloader.num_workers': -1}, 'train_dataloader.num_workers'),
    ({'optim_wrapper.optimizer.lr': 0}, 'optim_wrapper.optimizer.lr'),
    ({'optim_wrapper.optimizer.lr': float('nan')},
     'optim_wrapper.optimizer.lr'),
    ({'train_cfg.max_epochs': 0}, 'train_cfg.max_epochs'),
    ({'train_cfg.max_epochs': 1.5}, 'train_cfg.max_epochs'),
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


# ---- checks that need the built training set (issue: silent wrong inputs) --
def test_last_batch_of_one_is_rejected_naming_the_keys(tiny_cfg, monkeypatch):
    cfg = Config.fromfile(tiny_cfg)  # 4 clips
    cfg.train_dataloader.drop_last = False
    cfg.train_dataloader.batch_size = 3  # 3 + 1
    with pytest.raises(ConfigError, match=r'train_dataloader.drop_last with '
                       r'train_dataloader.batch_size=3 and 4 samples leaves '
                       r'a last batch of 1 sample, on which BatchNorm fails'):
        check_train_dataset(cfg)
    cfg.train_dataloader.batch_size = 2  # 2 + 2: fine
    assert check_train_dataset(cfg) == 4
    cfg.train_dataloader.batch_size = 3
    cfg.train_dataloader.drop_last = True  # the short batch is dropped
    assert check_train_dataset(cfg) == 4
    cfg.train_dataloader.drop_last = False
    monkeypatch.setenv('WORLD_SIZE', '3')  # 2 samples per process
    cfg.train_dataloader.batch_size = 2
    assert check_train_dataset(cfg) == 4
    monkeypatch.setenv('WORLD_SIZE', '4')  # 1 sample per process
    with pytest.raises(ConfigError, match='1 samples per process'):
        check_train_dataset(cfg)
    cfg.model = dict(type='Recognizer2D')  # BN sees every frame: not checked
    assert check_train_dataset(cfg) == 4


@pytest.mark.slow
def test_last_batch_of_one_really_crashes_batchnorm(clip_dir, tmp_path):
    """What the check prevents: 3 clips, batch 2, no drop_last."""
    import shutil
    three = tmp_path / 'three'
    three.mkdir()
    for i in range(3):
        shutil.copy(osp.join(clip_dir, f'good{i}.mp4'), three)
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), str(three),
                            max_epochs=1)
    runner = build_runner(cfg, str(tmp_path / 'work'),
                          **{'train_dataloader.drop_last': False})
    with pytest.raises(ValueError, match='Expected more than 1 value per '
                       'channel when training'):
        runner.train()
    assert runner.iter == 1  # the full batch trained, the single one failed


def _downstream_cfg(clip_dir, tmp_path, labels):
    """The demo's linear-probe config on a list of the test clips."""
    lines = [f'good{i}.mp4 {label}' for i, label in enumerate(labels)]
    ann = tmp_path / 'train.txt'
    ann.write_text('\n'.join(lines) + '\n')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'downstream',
                                   'tsn_r18_linear_demo.py'))
    cfg.train_dataloader.dataset.ann_file = str(ann)
    cfg.train_dataloader.dataset.data_prefix = dict(video=clip_dir)
    cfg.train_dataloader.batch_size = 2
    cfg.model.backbone.init_cfg = None
    return cfg, str(ann)


def test_label_outside_num_classes_names_file_and_line(clip_dir, tmp_path):
    cfg, ann = _downstream_cfg(clip_dir, tmp_path, [0, 9, 10, 3])
    assert cfg.model.cls_head.num_classes == 10
    with pytest.raises(AnnotationError, match=re.escape(f'{ann}:3: ') + (
            r'\S*good2\.mp4 has label 10, outside the 10 classes of '
            r'model\.cls_head\.num_classes \(valid: 0 to 9\); 1 of 4 '
            'entries')):
        check_train_dataset(cfg)
    cfg.model.cls_head.num_classes = 11
    assert check_train_dataset(cfg) == 4


def test_train_tool_checks_labels_before_building_the_runner(clip_dir,
                                                             tmp_path):
    cfg, ann = _downstream_cfg(clip_dir, tmp_path, [0, 1, 2, 12])
    cfg_file = str(tmp_path / 'down.py')
    cfg.dump(cfg_file)
    work = tmp_path / 'work'
    with pytest.raises(AnnotationError, match=re.escape(f'{ann}:4: ')):
        load_tool('train').main([cfg_file, '--work-dir', str(work)])
    assert not work.exists()
