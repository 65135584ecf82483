"""Export one encoder's backbone of a SeCo checkpoint for mmaction2.

A SeCo pretraining checkpoint (mmengine format) holds the query backbone
under ``backbone.*``, its EMA copy under ``momentum_encoder.module.0.*``, the
projection heads and the queue. Downstream models need only one ResNet; the
file is read once (weights-only, :mod:`seco_mm.engine.safe_load`) and one
of two layouts is written (:func:`~.checkpoint_format.write_backbone`):

- ``mmaction`` (default): ``{'state_dict': {'backbone.' + k: v}, 'meta': ...}``
  with mmaction2's ``ConvModule`` names (``conv1.conv.weight``). Load it in any
  2D recognizer with ``init_cfg=dict(type='Pretrained', checkpoint=OUT,
  prefix='backbone.')`` on a ``ResNet`` whose ``pretrained=None``.
- ``torchvision``: ``{'state_dict': {k_tv: v}, 'meta': ...}`` with torchvision
  names (``conv1.weight``, ``bn1.weight``, ``downsample.0/1``) and no prefix.
  That is what mmaction2's ``ResNet3d(pretrained=OUT, pretrained2d=True)``
  inflates from; ``ResNet3d`` ignores ``init_cfg``.

The name map, reading and writing live in :mod:`.checkpoint_format`; the
names below are re-exported so existing imports keep working.
"""
from typing import Dict

from .checkpoint_format import (KEY_PREFIX, LAYOUTS, QUERY_PREFIX,
                                SeCoCheckpointError, infer_resnet_cfg,
                                load_seco_checkpoint, read_backbone,
                                to_torchvision_names, write_backbone)

__all__ = [
    'SeCoCheckpointError', 'load_seco_checkpoint', 'infer_resnet_cfg',
    'to_torchvision_names', 'read_backbone_state', 'export_backbone',
    'QUERY_PREFIX', 'KEY_PREFIX', 'LAYOUTS'
]


def read_backbone_state(path: str, key_encoder: bool = False):
    """(mmaction2 ResNet state dict, inferred cfg) of a SeCo checkpoint or an
    export; see :func:`~.checkpoint_format.read_backbone`."""
    weights = read_backbone(path, key_encoder=key_encoder)
    return weights.state, dict(weights.cfg)


def export_backbone(src: str,
                    dst: str,
                    key_encoder: bool = False,
                    layout: str = 'mmaction') -> Dict:
    """Write one encoder's backbone of the SeCo checkpoint ``src`` to ``dst``.

    Args:
        src: SeCo pretraining checkpoint (path or URL).
        dst: output ``.pth`` (written atomically).
        key_encoder: export the momentum encoder's backbone.
        layout: ``'mmaction'`` or ``'torchvision'`` (see module docstring).

    Returns:
        dict: ``num_tensors``, ``num_params``, ``backbone_cfg``, ``encoder``,
        ``layout``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    weights = read_backbone(src, key_encoder=key_encoder, require_seco=True)
    return write_backbone(weights, dst, layout=layout)
