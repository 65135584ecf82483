"""Initialise SeCo from a MoCo v2 checkpoint (the paper's starting point).

MoCo v2 checkpoints use torchvision ResNet names under
``module.encoder_q.`` (``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``,
``layer1.0.bn1.*``, ``layer1.0.downsample.{0,1}.*``) and an MLP projection
``fc.0`` (2048->2048) and ``fc.2`` (2048->128). mmaction2's ResNet uses
ConvModule names (``conv1.conv.weight``, ``conv1.bn.*``,
``layer1.0.conv1.conv.weight``, ``layer1.0.downsample.conv.weight``...). The
projection is copied into each of SeCo's projectors. Any key left unmapped,
or any model key left unfilled, is an error: silent partial loading is how
pretraining results quietly go wrong.
"""
import re
from typing import Dict, Tuple

import torch

__all__ = ['convert_moco_v2', 'load_moco_v2']

_PREFIXES = ('module.encoder_q.', 'encoder_q.', 'module.', 'backbone.')


def _backbone_key(key: str):
    """torchvision ResNet key -> mmaction2 ResNet key (None if not backbone)."""
    if key.startswith('conv1.'):
        return 'conv1.conv.' + key[len('conv1.'):]
    if key.startswith('bn1.'):
        return 'conv1.bn.' + key[len('bn1.'):]
    m = re.match(r'(layer\d+\.\d+\.)(conv|bn)(\d)\.(.+)$', key)
    if m:
        block, kind, idx, rest = m.groups()
        return f'{block}conv{idx}.{"conv" if kind == "conv" else "bn"}.{rest}'
    m = re.match(r'(layer\d+\.\d+\.downsample\.)([01])\.(.+)$', key)
    if m:
        block, idx, rest = m.groups()
        return f'{block}{"conv" if idx == "0" else "bn"}.{rest}'
    return None


def convert_moco_v2(state_dict: Dict[str, torch.Tensor]
                    ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """Split a MoCo v2 state dict into mmaction2 backbone and MLP weights.

    Returns:
        (backbone state dict in mmaction2 names, projection state dict with
        keys ``0.weight, 0.bias, 2.weight, 2.bias``).
    Raises:
        KeyError: if a key is neither backbone nor projection.
    """
    backbone, proj, leftover = {}, {}, []
    for key, val in state_dict.items():
        if key.startswith('module.encoder_k.') or key in ('queue', 'queue_ptr'):
            continue  # MoCo's own key encoder and queue are not used
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if key.startswith('fc.'):
            proj[key[len('fc.'):]] = val
            continue
        new = _backbone_key(key)
        if new is None:
            leftover.append(key)
        else:
            backbone[new] = val
    if leftover:
        raise KeyError(f'MoCo v2 checkpoint has keys that map to nothing in '
                       f'SeCo: {leftover[:10]}{"..." if len(leftover) > 10 else ""}')
    return backbone, proj


def load_moco_v2(model, checkpoint: str) -> None:
    """Load a MoCo v2 checkpoint into ``model.backbone`` and ``model.neck``.

    Raises:
        KeyError: with the offending names, if keys do not fit exactly.
    """
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt)
    backbone_sd, proj_sd = convert_moco_v2(state)
    result = model.backbone.load_state_dict(backbone_sd, strict=False)
    missing = [k for k in result.missing_keys if 'num_batches_tracked' not in k]
    if missing or result.unexpected_keys:
        raise KeyError(f'{checkpoint}: MoCo v2 backbone does not fit the SeCo '
                       f'backbone: missing {missing[:10]}, unexpected '
                       f'{result.unexpected_keys[:10]}')
    if proj_sd:
        for name, projector in model.neck.projectors.items():
            try:
                projector.load_state_dict(proj_sd, strict=True)
            except RuntimeError as err:
                raise KeyError(f'{checkpoint}: MoCo v2 projection (fc.*) does '
                               f'not fit SeCo projector {name!r}: {err}') from None
