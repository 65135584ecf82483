"""tools/train.py and tools/test.py argument handling (mmaction2 semantics)."""
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from tests.conftest import ROOT, load_tool

train_tool = load_tool('train')
test_tool = load_tool('test')

CFG = osp.join(ROOT, 'configs', 'seco_r18_demo.py')
DOWNSTREAM = osp.join(ROOT, 'configs', 'downstream', 'tsn_r18_linear_demo.py')


def _merged(*argv):
    args = train_tool.parse_args([CFG, *argv])
    return train_tool.merge_args(Config.fromfile(CFG), args)


def test_defaults_work_dir_from_config_name():
    cfg = _merged()
    assert cfg.work_dir == osp.join('./work_dirs', 'seco_r18_demo')
    assert cfg.resume is False and cfg.launcher == 'none'


def test_resume_auto_and_explicit():
    assert _merged('--resume').resume is True
    assert _merged('--resume').load_from is None
    cfg = _merged('--resume', 'w/epoch_3.pth')
    assert cfg.resume is True and cfg.load_from == 'w/epoch_3.pth'


def test_amp_seed_cfg_options_and_work_dir():
    cfg = _merged('--amp', '--seed', '7', '--deterministic', '--work-dir',
                  '/tmp/wd', '--cfg-options', 'model.queue_len=256',
                  'train_dataloader.batch_size=4', '--auto-scale-lr')
    # bf16 on CPU / fp16 + dynamic scaling on CUDA (seco_mm/engine)
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    assert cfg.randomness == dict(seed=7, deterministic=True)
    assert _merged().randomness['seed'] == 0  # demo config's seed kept
    assert cfg.work_dir == '/tmp/wd'
    assert cfg.model.queue_len == 256
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.auto_scale_lr.enable is True


def test_bad_launcher_and_dump_are_rejected():
    with pytest.raises(SystemExit):
        train_tool.parse_args([CFG, '--launcher', 'ssh'])
    with pytest.raises(SystemExit):
        test_tool.parse_args([CFG, 'x.pth', '--dump', 'out.json'])


@pytest.mark.slow  # tools/test.py as a process
def test_test_tool_refuses_a_pretraining_config(tmp_path):
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), CFG, 'x.pth',
         '--work-dir', str(tmp_path)], capture_output=True, text=True,
        timeout=120)
    assert out.returncode != 0
    assert 'has no test_dataloader' in out.stderr


def test_dist_train_script_uses_torchrun():
    script = open(osp.join(ROOT, 'tools', 'dist_train.sh')).read()
    assert 'source "$ROOT/tools/launch_common.sh"' in script
    text = script + open(osp.join(ROOT, 'tools', 'launch_common.sh')).read()
    assert 'torch.distributed.run' in text and '--launcher pytorch' in text


def test_cfg_options_win_over_the_other_flags_as_in_mmaction2():
    cfg = _merged('--work-dir', '/tmp/flag', '--seed', '7', '--amp',
                  '--cfg-options', 'work_dir=/tmp/option', 'randomness.seed=3',
                  'optim_wrapper.type=OptimWrapper')
    assert cfg.work_dir == '/tmp/option'
    assert cfg.randomness.seed == 3
    assert cfg.optim_wrapper.type == 'OptimWrapper'


def test_test_tool_order_show_dir_then_cfg_options_then_work_dir(tmp_path):
    args = test_tool.parse_args([
        DOWNSTREAM, 'ckpt.pth', '--show-dir', str(tmp_path / 'vis'),
        '--interval', '3', '--dump', str(tmp_path / 'r.pkl'),
        '--work-dir', '/tmp/flag', '--cfg-options',
        'default_hooks.visualization.interval=7', 'work_dir=/tmp/option'])
    cfg = test_tool.load_config(args)
    vis = cfg.default_hooks.visualization
    # mmaction2 1.2.0's hook cannot draw: the fixed one (compat defect 7)
    assert vis.type == 'SeCoFixedVisualizationHook' and vis.enable is True
    assert vis.out_dir == str(tmp_path / 'vis')
    assert vis.interval == 7  # --cfg-options after --interval
    assert cfg.work_dir == '/tmp/flag'  # --work-dir after --cfg-options
    assert cfg.load_from == 'ckpt.pth'
    assert cfg.test_evaluator[-1] == dict(type='DumpResults',
                                          out_file_path=str(tmp_path /
                                                            'r.pkl'))


class _RecordingRunner:
    """Stands in for a custom runner class named by ``runner_type``."""

    built_from = None

    @classmethod
    def from_cfg(cls, cfg):
        cls.built_from = cfg
        return cls()


def test_runner_type_builds_from_the_runners_registry():
    from mmaction.registry import RUNNERS
    RUNNERS.register_module(name='W5RecordingRunner', module=_RecordingRunner,
                            force=True)
    cfg = _merged('--cfg-options', 'runner_type=W5RecordingRunner')
    runner = train_tool.build_runner(cfg)
    assert isinstance(runner, _RecordingRunner)
    assert _RecordingRunner.built_from.work_dir == cfg.work_dir


def test_no_progress_flag_is_accepted_by_both_tools():
    assert train_tool.parse_args([CFG, '--no-progress']).no_progress
    assert test_tool.parse_args([DOWNSTREAM, 'x.pth',
                                 '--no-progress']).no_progress
    assert not train_tool.parse_args([CFG]).no_progress


def test_tools_do_not_edit_sys_path():
    for name in ('train.py', 'test.py'):
        text = open(osp.join(ROOT, 'tools', name)).read()
        assert 'sys.path' not in text, name
