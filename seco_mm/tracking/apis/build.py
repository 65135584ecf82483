"""Build and train a SiamFC tracker from a config (shared by the tools)."""
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner, load_checkpoint

from mmaction.registry import MODELS

from seco_mm.utils.logging import quiet_mmengine as _quiet_mmengine

__all__ = [
    'check_backbone_file', 'set_backbone_checkpoint', 'build_tracker',
    'train_tracker'
]


def check_backbone_file(path: str, backbone_cfg: dict) -> dict:
    """Check a backbone file before mmengine's ``Pretrained`` init loads it.

    Accepts an ``mmaction``-layout export (tools/export_backbone.py) or a
    SeCo checkpoint (its query backbone): both hold ``backbone.*`` keys,
    which ``init_cfg=dict(type='Pretrained', prefix='backbone.')`` loads.
    The file is read weights-only (:mod:`seco_mm.models.utils.
    checkpoint_format`); its depth comes from the weights, not from metadata.
    mmengine's init loads non-strictly (the file holds all four stages; a
    truncated backbone uses a prefix of them), so every tensor the
    configured backbone needs must be in the file with the right shape.

    Returns:
        dict: ``num_tensors`` (backbone tensors in the file), ``num_used``
        (needed by the configured backbone), ``depth`` (of the weights) and
        ``kind`` (``'mmaction'`` export or ``'seco'`` checkpoint).

    Raises:
        FileNotFoundError / ValueError naming the file when it is missing,
        unreadable or refused, not a backbone file, made for a ResNet of
        another depth, or lacks / mis-shapes a needed tensor.
    """
    from seco_mm.engine.safe_load import is_remote
    from seco_mm.models.utils.checkpoint_format import (SeCoCheckpointError,
                                                        read_backbone)

    if not is_remote(path) and not osp.isfile(path):
        raise FileNotFoundError(f'backbone checkpoint not found: {path}')
    try:
        weights = read_backbone(path)
    except SeCoCheckpointError as err:
        raise ValueError(f'{err} (expected tools/export_backbone.py output '
                         'or a SeCo checkpoint)') from None
    if weights.kind == 'torchvision':
        raise ValueError(
            f'{path}: torchvision-layout backbone; the tracker loads keys '
            'backbone.<ConvModule name>: export with tools/export_backbone.py '
            '--layout mmaction')
    depth = weights.cfg['depth']
    if depth != backbone_cfg.get('depth'):
        raise ValueError(
            f'{path} holds a ResNet-{depth} but the config builds a '
            f"ResNet-{backbone_cfg.get('depth')}; pick the matching config")
    cfg = dict(backbone_cfg)
    cfg.pop('init_cfg', None)
    needed = MODELS.build(cfg).state_dict()  # the user's config, not the file
    for key, value in needed.items():
        src = weights.state.get(key)
        if src is None:
            raise ValueError(f'{path}: missing backbone.{key} needed by the '
                             f"configured ResNet-{cfg.get('depth')}")
        if tuple(src.shape) != tuple(value.shape):
            raise ValueError(
                f'{path}: backbone.{key} has shape {tuple(src.shape)}, the '
                f'configured backbone needs {tuple(value.shape)}')
    return dict(num_tensors=len(weights.state), num_used=len(needed),
                depth=depth, kind=weights.kind)


def set_backbone_checkpoint(cfg: Config, path: Optional[str]) -> dict:
    """Load ``path`` into the backbone via mmengine's ``Pretrained`` init.

    ``None`` keeps the backbone randomly initialised (mmaction2's ResNet
    default: Kaiming convs, BN weight 1).
    """
    bb = cfg.model.backbone
    bb.pretrained = None  # mmaction2's ResNet ignores init_cfg otherwise
    if path is None:
        bb.init_cfg = None
        bb.pop('init_cfg')
        cfg.backbone_checkpoint = None
        return {}
    info = check_backbone_file(path, bb)
    bb.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='backbone.')
    cfg.backbone_checkpoint = path
    return info


def build_tracker(cfg: Config, load_from: Optional[str] = None,
                  device: str = 'cpu', quiet: bool = True):
    """Build ``cfg.model``, run its init (backbone checkpoint) and optionally
    load a trained SiamFC checkpoint (adjust layers and all)."""
    model = MODELS.build(cfg.model)
    if quiet:
        with _quiet_mmengine():
            model.init_weights()
    else:
        model.init_weights()
    if load_from:
        if not osp.isfile(load_from):
            raise FileNotFoundError(
                f'SiamFC checkpoint not found: {load_from}')
        load_checkpoint(model, load_from, map_location='cpu', strict=True)
    return model.to(device).eval()


def train_tracker(cfg: Config, quiet: bool = True):
    """Train with mmengine's Runner (``cfg.train_dataloader`` etc.).

    Returns:
        tuple: (the trained model, unwrapped; the Runner).
    """
    cfg = cfg.copy()
    if quiet:
        cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    if quiet:
        with _quiet_mmengine():
            runner.train()
    else:
        runner.train()
    model = runner.model
    if is_model_wrapper(model):
        model = model.module
    return model.eval(), runner
