"""tools/train.py and tools/test.py argument handling (mmaction2 semantics)."""
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))

import train as train_tool  # noqa: E402
import test as test_tool  # noqa: E402

CFG = osp.join(ROOT, 'configs', 'seco_r18_demo.py')


def _merged(*argv):
    args = train_tool.parse_args([CFG, *argv])
    cfg = Config.fromfile(CFG)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return train_tool.merge_args(cfg, args)


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


def test_test_tool_refuses_a_pretraining_config(tmp_path):
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), CFG, 'x.pth',
         '--work-dir', str(tmp_path)], capture_output=True, text=True,
        timeout=120)
    assert out.returncode != 0
    assert 'has no test_dataloader' in out.stderr


def test_dist_train_script_uses_torchrun():
    text = open(osp.join(ROOT, 'tools', 'dist_train.sh')).read()
    assert 'torch.distributed.run' in text and '--launcher pytorch' in text
