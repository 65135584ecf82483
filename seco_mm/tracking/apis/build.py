"""Build and train a SiamFC tracker from a config (shared by the tools)."""
import itertools
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner, load_checkpoint

from mmaction.registry import MODELS

from seco_mm.tracking.models.backbone_file import (needed_tensors,
                                                   read_tracker_backbone)
from seco_mm.utils.logging import quiet_mmengine as _quiet_mmengine

__all__ = [
    'check_backbone_file', 'set_backbone_checkpoint', 'build_tracker',
    'train_tracker'
]

_TRAININGS = itertools.count()  # trainings started in this process


def check_backbone_file(path: str, backbone_cfg: dict) -> dict:
    """Check a backbone file against the configured backbone before any
    tracker is built (see :mod:`seco_mm.tracking.models.backbone_file`;
    the read is kept for the trackers built afterwards).

    Returns:
        dict: ``num_tensors`` (backbone tensors in the file), ``num_used``
        (needed by the configured backbone), ``depth`` (of the weights) and
        ``kind`` (``'mmaction'`` export or ``'seco'`` checkpoint).

    Raises:
        FileNotFoundError / ValueError naming the file when it is missing,
        unreadable or refused, not a backbone file, made for a ResNet of
        another depth, or lacks / mis-shapes a needed tensor.
    """
    weights = read_tracker_backbone(path, backbone_cfg.get('depth'))
    cfg = dict(backbone_cfg)
    cfg.pop('init_cfg', None)
    needed = MODELS.build(cfg).state_dict()  # the user's config, not the file
    needed_tensors(path, weights, needed)
    return dict(num_tensors=len(weights.state), num_used=len(needed),
                depth=weights.cfg['depth'], kind=weights.kind)


def set_backbone_checkpoint(cfg: Config, path: Optional[str]) -> dict:
    """Check ``path`` and make ``cfg.model`` (SiamFC) load it into its
    backbone at weight init (``model.backbone_checkpoint``), from the same
    read.

    ``None`` keeps the backbone randomly initialised (mmaction2's ResNet
    default: Kaiming convs, BN weight 1).
    """
    bb = cfg.model.backbone
    bb.pretrained = None  # mmaction2's ResNet would load it itself
    bb.init_cfg = None  # no second loader: SiamFC.init_weights loads it
    if path is None:
        cfg.model.pop('backbone_checkpoint', None)
        cfg.backbone_checkpoint = None
        return {}
    info = check_backbone_file(path, bb)
    cfg.model.backbone_checkpoint = path
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
    # mmengine keeps one logger and visualizer per experiment name, which by
    # default is the config's name and a timestamp in seconds: trainings run
    # one after the other in this process (one per seed) within a second
    # would share them and log into the first one's work_dir
    if not cfg.get('experiment_name'):
        cfg.experiment_name = f'siamfc_train{next(_TRAININGS)}'
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
