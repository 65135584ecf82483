"""The tracker's backbone file: checked against the configured ResNet and
loaded into it, from one read.

The file is an ``mmaction``-layout export (tools/export_backbone.py) or a
SeCo checkpoint (its query backbone); both hold ``backbone.*`` keys. It is
read weights-only by :func:`seco_mm.models.utils.checkpoint_format.
read_backbone` with ``keep=True``: the up-front check
(:func:`seco_mm.tracking.apis.check_backbone_file`) and every tracker built
afterwards in the process share that one read while the file is unchanged.
The depth comes from the weights, not from metadata. The file holds all
four stages; a truncated backbone (SiamFC stops at stride 8) uses a prefix
of them, so every tensor the configured backbone needs must be in the file
with the right shape.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log

from seco_mm.engine.safe_load import is_remote
from seco_mm.models.utils.checkpoint_format import (BackboneWeights,
                                                    SeCoCheckpointError,
                                                    read_backbone)

__all__ = ['read_tracker_backbone', 'needed_tensors', 'load_tracker_backbone']


def read_tracker_backbone(path: str,
                          depth: Optional[int]) -> BackboneWeights:
    """The backbone of ``path`` if it is a ResNet-``depth`` in the layout
    the tracker loads.

    Raises:
        FileNotFoundError / ValueError naming the file when it is missing,
        unreadable or refused, not a backbone file, in torchvision layout,
        or made for a ResNet of another depth.
    """
    if not is_remote(path) and not osp.isfile(path):
        raise FileNotFoundError(f'backbone checkpoint not found: {path}')
    try:
        weights = read_backbone(path, keep=True)
    except SeCoCheckpointError as err:
        raise ValueError(f'{err} (expected tools/export_backbone.py output '
                         'or a SeCo checkpoint)') from None
    if weights.kind == 'torchvision':
        raise ValueError(
            f'{path}: torchvision-layout backbone; the tracker loads keys '
            'backbone.<ConvModule name>: export with tools/export_backbone.py '
            '--layout mmaction')
    if weights.cfg['depth'] != depth:
        raise ValueError(
            f"{path} holds a ResNet-{weights.cfg['depth']} but the config "
            f'builds a ResNet-{depth}; pick the matching config')
    return weights


def needed_tensors(path: str, weights: BackboneWeights,
                   needed: Dict[str, torch.Tensor]
                   ) -> 'OrderedDict[str, torch.Tensor]':
    """The tensors of ``weights`` that a backbone with state dict
    ``needed`` uses, each present with the shape it needs.

    Raises:
        ValueError: ``path: missing backbone.<key> ...`` or a shape mismatch.
    """
    depth = weights.cfg['depth']
    out = OrderedDict()
    for key, value in needed.items():
        src = weights.state.get(key)
        if src is None:
            raise ValueError(f'{path}: missing backbone.{key} needed by the '
                             f'configured ResNet-{depth}')
        if tuple(src.shape) != tuple(value.shape):
            raise ValueError(
                f'{path}: backbone.{key} has shape {tuple(src.shape)}, the '
                f'configured backbone needs {tuple(value.shape)}')
        out[key] = src
    return out


def load_tracker_backbone(backbone: nn.Module, path: str) -> dict:
    """Load the backbone file ``path`` into ``backbone`` (an mmaction2
    ``ResNet``, possibly truncated), strictly on the tensors it has.

    Returns:
        dict: ``num_tensors`` (in the file), ``num_used`` (loaded).
    """
    weights = read_tracker_backbone(path, getattr(backbone, 'depth', None))
    state = needed_tensors(path, weights, backbone.state_dict())
    backbone.load_state_dict(state, strict=True)
    print_log(f'SiamFC: backbone loaded from {path} ({len(state)} of the '
              f"file's {len(weights.state)} tensors)", logger='current')
    return dict(num_tensors=len(weights.state), num_used=len(state))
