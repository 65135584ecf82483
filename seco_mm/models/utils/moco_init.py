"""Initialise SeCo from MoCo (or ImageNet-supervised) weights, as the paper.

The paper starts the query encoder from MoCo v2's ImageNet model. The files
people have come in these layouts (``module.`` from DDP is stripped first):

=========================  ==============================================
official MoCo v1/v2        ``state_dict``: ``encoder_q.<torchvision name>``,
(``main_moco.py``)         ``encoder_q.fc.0/2.*`` (v2 MLP) or
                           ``encoder_q.fc.*`` (v1 linear), ``encoder_k.*``,
                           ``queue``, ``queue_ptr``; plus ``optimizer``,
                           ``epoch``, ``arch``
mmpretrain / mmselfsup 1.x ``backbone.<torchvision name>``,
                           ``neck.mlp.0/2.*``, ``momentum_encoder.*``,
                           ``queue``, ``queue_ptr``
mmselfsup 0.x              as 1.x plus ``encoder_q.0.*`` / ``encoder_q.1.*``
                           (the same tensors again), ``encoder_k.*``
torchvision ResNet         ``<torchvision name>``, classifier ``fc.*``
=========================  ==============================================

Key-encoder and queue tensors, and entries besides ``state_dict``
(optimizer, epoch...), are skipped. The 2-layer MLP (``fc.0``/``fc.2`` or
``neck.mlp.0``/``neck.mlp.2``) initialises *every* SeCo projection head (the
reference code does the same); a single linear ``fc`` (MoCo v1, or a
classifier) is skipped. Counts loaded / skipped per group are logged. A key
that fits no group, a backbone tensor the file lacks, and a shape mismatch
are errors naming the keys: silent partial loading is how pretraining
results quietly go wrong.
"""
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from .checkpoint_format import mmaction_name

__all__ = ['MocoWeights', 'convert_moco_v2', 'load_moco_v2']

# key prefix -> group, tried in order after a leading 'module.' is stripped
_SKIP = (('encoder_k.', 'key encoder'), ('momentum_encoder.', 'key encoder'),
         ('queue', 'queue'))
_MLP = ('encoder_q.fc.', 'encoder_q.1.mlp.', 'neck.mlp.', 'fc.')
_BACKBONE = ('encoder_q.0.', 'encoder_q.', 'backbone.', '')


@dataclass
class MocoWeights:
    """A MoCo-style state dict split into what SeCo uses.

    Attributes:
        backbone: mmaction2 ResNet names -> tensors.
        mlp: ``{'0.weight', '0.bias', '2.weight', '2.bias'}`` (first and
            second linear layer of the MLP); empty if the file has none.
        skipped: group -> number of tensors skipped, and why (the group).
        unknown: keys that fit no group.
    """
    backbone: Dict[str, torch.Tensor] = field(default_factory=OrderedDict)
    mlp: Dict[str, torch.Tensor] = field(default_factory=OrderedDict)
    skipped: Counter = field(default_factory=Counter)
    unknown: List[str] = field(default_factory=list)


def _put(target: dict, key: str, value: torch.Tensor, name: str) -> None:
    """Store; a second copy (mmselfsup 0.x aliases) must be identical."""
    if key in target and not torch.equal(target[key], value):
        raise KeyError(f'{name} appears twice with different values')
    target[key] = value


def _mlp_entry(rest: str):
    """'0.weight' / '2.bias' -> itself; 'weight' (single linear) -> None."""
    parts = rest.split('.')
    if len(parts) == 2 and parts[0] in ('0', '2'):
        return rest
    return None


def convert_moco_v2(state_dict: Dict[str, torch.Tensor]) -> MocoWeights:
    """Split a MoCo v1/v2, mmselfsup/mmpretrain or torchvision state dict.

    See the module docstring for the layouts. Raises nothing: unmatched keys
    are listed in ``unknown`` for the caller to report.
    """
    out = MocoWeights()
    for full, value in state_dict.items():
        key = full[len('module.'):] if full.startswith('module.') else full
        group = next((g for p, g in _SKIP if key.startswith(p)), None)
        if group is not None:
            out.skipped[group] += 1
            continue
        mlp = next((p for p in _MLP if key.startswith(p)), None)
        if mlp is not None:
            entry = _mlp_entry(key[len(mlp):])
            if entry is not None:
                _put(out.mlp, entry, value, full)
            elif mlp in ('fc.', 'encoder_q.fc.'):
                out.skipped['single linear fc (classifier / MoCo v1)'] += 1
            else:
                out.unknown.append(full)
            continue
        for prefix in _BACKBONE:
            if key.startswith(prefix):
                name = mmaction_name(key[len(prefix):])
                if name is not None:
                    _put(out.backbone, name, value, full)
                    break
        else:
            out.unknown.append(full)
    return out


def _read(checkpoint: str) -> Tuple[dict, dict]:
    """(whole checkpoint, its state dict) with one weights-only read."""
    from seco_mm.engine.safe_load import load_checkpoint_file

    ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise KeyError(f'{checkpoint}: holds a {type(ckpt).__name__}, not a '
                       'state dict')
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise KeyError(f"{checkpoint}: 'state_dict' is not a dict")
    return ckpt, state


def _check_fit(checkpoint: str, target: Dict[str, torch.Tensor],
               given: Dict[str, torch.Tensor], what: str) -> None:
    missing = [k for k in target if k not in given]
    extra = [k for k in given if k not in target]
    shapes = [f'{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}'
              for k, v in given.items()
              if k in target and v.shape != target[k].shape]
    if missing or extra or shapes:
        raise KeyError(
            f'{checkpoint}: {what} does not fit: missing {missing[:10]} '
            f'({len(missing)}), unexpected {extra[:10]} ({len(extra)}), '
            f'shape mismatch {shapes[:5]}')


def load_moco_v2(model, checkpoint: str) -> dict:
    """Load MoCo-style weights into ``model.backbone`` and every projector
    of ``model.neck.projectors``.

    Returns:
        dict: ``loaded`` and ``skipped`` counts per group (also logged).

    Raises:
        KeyError: naming the keys that fit nothing, the backbone tensors the
            file lacks, or mismatched shapes.
    """
    ckpt, state = _read(checkpoint)
    parts = convert_moco_v2(state)
    if parts.unknown:
        raise KeyError(
            f'{checkpoint}: keys that map to nothing in SeCo (not a ResNet, '
            f'MLP, key-encoder or queue tensor): {parts.unknown[:10]}'
            f'{" ..." if len(parts.unknown) > 10 else ""}')
    _check_fit(checkpoint, model.backbone.state_dict(), parts.backbone,
               'the backbone')
    model.backbone.load_state_dict(parts.backbone, strict=True)
    loaded = {'backbone': len(parts.backbone)}
    if parts.mlp:
        for name, projector in model.neck.projectors.items():
            linears = [m for m in projector if isinstance(m, nn.Linear)]
            first, last = linears[0], linears[-1]
            target = {'0.weight': first.weight, '0.bias': first.bias,
                      '2.weight': last.weight, '2.bias': last.bias}
            _check_fit(checkpoint, target, parts.mlp,
                       f'the MLP (fc.0 / fc.2) for SeCo projector {name!r}')
            with torch.no_grad():
                for k, param in target.items():
                    param.copy_(parts.mlp[k])
        loaded['projection MLP'] = len(parts.mlp)
        loaded['projectors initialised'] = len(model.neck.projectors)
    skipped = dict(parts.skipped)
    other = sorted(k for k in ckpt if k != 'state_dict') \
        if 'state_dict' in ckpt else []
    if other:
        skipped['other entries (' + ', '.join(other) + ')'] = len(other)
    print_log(f'MoCo init from {checkpoint}: loaded {loaded}; skipped '
              f'{skipped}' + ('' if parts.mlp else '; no 2-layer MLP in the '
                              'file: projection heads keep their init'),
              logger='current')
    return dict(loaded=loaded, skipped=skipped)
