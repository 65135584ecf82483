"""Each upstream defect handled by seco_mm.compat is real, and is handled.

The "defect is real" halves run in a fresh interpreter without seco_mm, so
they fail if upstream ever fixes the defect (then the workaround can go).
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from seco_mm import compat


class Evil:
    """An arbitrary class: weights_only loading must refuse it."""


class AttrGrab:
    """Pickles as getattr(np.ndarray, 'tofile'): must be refused."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def _python(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120)


def test_defect1_missing_drn_is_real_and_patched():
    bare = _python('import mmaction.models')
    assert bare.returncode != 0
    assert "No module named 'mmaction.models.localizers.drn'" in bare.stderr
    fixed = _python(
        'import seco_mm, mmaction.models\n'
        'from mmaction.models.localizers import DRN, BMN\n'
        'from mmaction.registry import MODELS\n'
        'assert MODELS.get("BMN") is BMN and MODELS.get("DRN") is None\n'
        'try:\n    DRN()\nexcept ImportError as e:\n    print("DRN:", e)\n')
    assert fixed.returncode == 0, fixed.stderr
    assert 'does not ship mmaction.models.localizers.drn' in fixed.stdout


def _checkpoint_with_mmengine_objects(path):
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    torch.save({'state_dict': {'w': torch.ones(2)},
                'message_hub': {'log_scalars': {'loss': buf}},
                'meta': {'seed': np.int64(3), 'arr': np.arange(3),
                         'f': np.float32(0.5)}}, path)


def test_defect3_weights_only_load_is_real_and_allow_listed(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _checkpoint_with_mmengine_objects(path)
    bare = _python(f'import torch; torch.load({path!r})')
    assert bare.returncode != 0 and 'HistoryBuffer' in bare.stderr
    compat.allow_mmengine_pickles()
    ckpt = torch.load(path)  # weights_only=True is torch's default here
    assert ckpt['message_hub']['log_scalars']['loss'].current() == 1.5
    assert ckpt['meta']['seed'] == 3
    # arbitrary objects are still refused
    torch.save({'x': Evil()}, str(tmp_path / 'evil.pth'))
    with pytest.raises(Exception, match='Unsupported global'):
        torch.load(str(tmp_path / 'evil.pth'))
    # getattr is resolved only for HistoryBuffer's statistics methods
    torch.save({'x': AttrGrab()}, str(tmp_path / 'grab.pth'))
    with pytest.raises(Exception, match='only allows HistoryBuffer'):
        torch.load(str(tmp_path / 'grab.pth'))


def test_defect3_real_runner_checkpoint_loads(tmp_path):
    """A checkpoint as mmengine's Runner writes it (HistoryBuffer pickles
    getattr(HistoryBuffer, 'min')) loads with weights_only=True."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('compat_test')
    hub.update_scalar('train/loss', 1.25)
    path = str(tmp_path / 'runner_like.pth')
    torch.save({'message_hub': hub.state_dict(), 'meta': {'seed': 0}}, path)
    bare = _python(f'import torch; torch.load({path!r})')
    assert bare.returncode != 0
    loaded = torch.load(path)
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 1.25


def test_defect4_cpu_distributed_uses_gloo_and_no_device_ids(monkeypatch):
    import torch.distributed as dist
    if torch.cuda.is_available():
        pytest.skip('CPU-only behaviour')
    for k, v in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT='29613', RANK='0',
                     WORLD_SIZE='1', LOCAL_RANK='0').items():
        monkeypatch.setenv(k, v)
    cfg = Config(dict(model_wrapper_cfg=None))
    try:
        compat.setup_distributed(cfg, 'pytorch')
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert cfg.model_wrapper_cfg == dict(
            type='MMDistributedDataParallel', device_ids=None)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    untouched = Config(dict())
    compat.setup_distributed(untouched, 'none')
    assert 'model_wrapper_cfg' not in untouched
    with pytest.raises(ValueError, match='launcher'):
        compat.setup_distributed(Config(dict()), 'slurm')


def test_defects_2_and_5_dependencies_present():
    compat.check_importlib_metadata()
    compat.check_pkg_resources()
    # mmaction:: base configs resolve (needs pkg_resources)
    cfg = Config.fromfile(os.path.join(
        os.path.dirname(os.path.dirname(__file__)), 'configs',
        'seco_r50_kinetics.py'))
    assert cfg.default_scope == 'mmaction'
