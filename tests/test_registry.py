"""Importing seco_mm registers its components in mmaction2's registries."""
import subprocess
import sys

import pytest
from mmaction.registry import DATASETS, HOOKS, MODELS, TRANSFORMS


def test_components_are_registered_in_mmaction_scope():
    for name in ('SeCo', 'SeCoProjector', 'InterFrameHead', 'IntraFrameHead',
                 'OrderHead'):
        assert MODELS.get(name) is not None, name
    for name in ('SeCoSampleFrames', 'SeCoMultiView', 'RandomColorJitter',
                 'RandomGrayscale', 'RandomGaussianBlur'):
        assert TRANSFORMS.get(name) is not None, name
    assert HOOKS.get('SeCoMomentumHook') is not None
    assert DATASETS.get('SeCoVideoDataset') is not None
    assert MODELS.scope == 'mmaction'


@pytest.mark.slow  # a fresh interpreter importing mmaction
def test_custom_imports_in_a_config_register_everything(tmp_path):
    cfg = tmp_path / 'c.py'
    cfg.write_text("custom_imports = dict(imports=['seco_mm'], "
                   "allow_failed_imports=False)\n")
    code = ('from mmengine.config import Config\n'
            f'Config.fromfile({str(cfg)!r})\n'
            'from mmaction.registry import MODELS\n'
            'assert MODELS.get("SeCo") is not None\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
