"""Build and train a SiamFC tracker from a config (shared by the tools)."""
import os.path as osp
from typing import Optional

import torch
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
    """Check an exported SeCo backbone before mmengine loads it.

    mmengine's ``Pretrained`` init loads non-strictly (the export holds all
    four stages; a truncated backbone uses a prefix of them), so this check
    makes sure every tensor the configured backbone needs is in the file
    with the right shape.

    Returns:
        dict: ``num_tensors`` (in the file), ``num_used`` (needed by the
        backbone) and ``depth`` (from meta, may be None).

    Raises:
        FileNotFoundError / ValueError naming the file when it is missing,
        not a ``{'state_dict': {'backbone.*': ...}}`` export, made for a
        ResNet of another depth, or lacks / mis-shapes a needed tensor.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'backbone checkpoint not found: {path}')
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict') if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f'{path}: expected a dict with a non-empty '
                         "'state_dict' (tools/export_backbone.py output)")
    if 'backbone.conv1.conv.weight' not in state:
        sample = ', '.join(list(state)[:3])
        raise ValueError(
            f"{path}: no 'backbone.conv1.conv.weight'; expected an mmaction2 "
            f'ResNet export with keys backbone.<ConvModule name> (got '
            f'{sample}, ...). A full SeCo checkpoint must be exported first '
            '(tools/export_backbone.py).')
    meta_cfg = (ckpt.get('meta') or {}).get('seco_backbone_cfg') or {}
    depth = meta_cfg.get('depth')
    if depth is not None and depth != backbone_cfg.get('depth'):
        raise ValueError(
            f'{path} holds a ResNet-{depth} but the config builds a '
            f"ResNet-{backbone_cfg.get('depth')}; pick the matching config")
    cfg = dict(backbone_cfg)
    cfg.pop('init_cfg', None)
    needed = MODELS.build(cfg).state_dict()
    for key, value in needed.items():
        src = state.get('backbone.' + key)
        if src is None:
            raise ValueError(f'{path}: missing backbone.{key} needed by the '
                             f"configured ResNet-{cfg.get('depth')}")
        if tuple(src.shape) != tuple(value.shape):
            raise ValueError(
                f'{path}: backbone.{key} has shape {tuple(src.shape)}, the '
                f'configured backbone needs {tuple(value.shape)}')
    return dict(num_tensors=len(state), num_used=len(needed), depth=depth)


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
