"""Read a backbone out of a SeCo checkpoint and write it for mmaction2.

A SeCo pretraining checkpoint (mmengine format) holds the query backbone
under ``backbone.*``, its EMA copy under ``momentum_encoder.module.0.*``, the
projection heads and the queue. Downstream models need only one ResNet. Two
output layouts are written:

- ``mmaction`` (default): ``{'state_dict': {'backbone.' + k: v}, 'meta': ...}``
  with mmaction2's ``ConvModule`` names (``conv1.conv.weight``). Load it in any
  2D recognizer with ``init_cfg=dict(type='Pretrained', checkpoint=OUT,
  prefix='backbone.')`` on a ``ResNet`` whose ``pretrained=None``.
- ``torchvision``: ``{'state_dict': {k_tv: v}, 'meta': ...}`` with torchvision
  names (``conv1.weight``, ``bn1.weight``, ``downsample.0/1``) and no prefix.
  That is what mmaction2's ``ResNet3d(pretrained=OUT, pretrained2d=True)``
  inflates from (and ``ResNet(pretrained=OUT, torchvision_pretrain=True)``
  reads); ``ResNet3d`` ignores ``init_cfg``.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

__all__ = [
    'SeCoCheckpointError', 'load_seco_checkpoint', 'is_seco_checkpoint', 'extract_backbone',
    'infer_resnet_cfg', 'to_torchvision_names', 'read_backbone_state',
    'export_backbone', 'QUERY_PREFIX', 'KEY_PREFIX', 'LAYOUTS'
]

QUERY_PREFIX = 'backbone.'
KEY_PREFIX = 'momentum_encoder.module.0.'
LAYOUTS = ('mmaction', 'torchvision')


class SeCoCheckpointError(ValueError):
    """A file is not a usable SeCo checkpoint (message names file and key)."""


def _torch_load(path: str) -> dict:
    """``torch.load`` on CPU with a clear error for missing/broken files."""
    if not osp.isfile(path):
        raise SeCoCheckpointError(f'{path}: no such file')
    try:
        # weights_only (torch's default); seco_mm.compat allow-lists the
        # types mmengine writes into checkpoints (incl. HistoryBuffer).
        obj = torch.load(path, map_location='cpu')
    except Exception as err:  # zip/pickle/EOF errors differ by torch version
        reason = (str(err).strip().splitlines() or [''])[0][:200]
        raise SeCoCheckpointError(
            f'{path}: cannot be read by torch.load (not a torch file, or a '
            f'truncated/corrupt one): {type(err).__name__}: {reason}') from err
    if not isinstance(obj, dict):
        raise SeCoCheckpointError(
            f'{path}: holds a {type(obj).__name__}, expected a checkpoint '
            'dict with a state_dict')
    return obj


def _state_dict_of(ckpt: dict) -> dict:
    """The model state dict of an mmengine checkpoint or a bare state dict."""
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise SeCoCheckpointError("'state_dict' is not a dict")
    return state


def load_seco_checkpoint(path: str) -> dict:
    """Load and validate a SeCo pretraining checkpoint.

    Returns:
        dict: the checkpoint; ``ckpt['state_dict']`` has ``queue`` (K, D) and
        ``backbone.*`` keys.

    Raises:
        SeCoCheckpointError: not a torch file, truncated, no ``queue``, no
            ``backbone.`` keys.
    """
    ckpt = _torch_load(path)
    try:
        state = _state_dict_of(ckpt)
    except SeCoCheckpointError as err:
        raise SeCoCheckpointError(f'{path}: {err}') from None
    has_backbone = any(k.startswith(QUERY_PREFIX) for k in state)
    if 'queue' not in state:
        hint = (' It looks like an already exported backbone; use it '
                'directly.' if has_backbone else '')
        raise SeCoCheckpointError(
            f"{path}: not a SeCo checkpoint: its state_dict has no 'queue' "
            f'key (keys start with: {sorted(state)[:3]}).{hint}')
    if not has_backbone:
        raise SeCoCheckpointError(
            f"{path}: not a SeCo checkpoint: no '{QUERY_PREFIX}*' keys in "
            'its state_dict')
    if 'state_dict' not in ckpt:
        ckpt = {'state_dict': state, 'meta': {}}
    return ckpt


def is_seco_checkpoint(path: str) -> bool:
    """True if ``path`` loads and its state dict has a ``queue``."""
    return 'queue' in _state_dict_of(_torch_load(path))


def extract_backbone(state_dict: dict,
                     key_encoder: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Return the ResNet state dict (keys without prefix) of one encoder.

    Args:
        state_dict: the SeCo model state dict.
        key_encoder: take the momentum (key) encoder's backbone
            ``momentum_encoder.module.0.*`` instead of the query ``backbone.*``.
    """
    prefix = KEY_PREFIX if key_encoder else QUERY_PREFIX
    out = OrderedDict((k[len(prefix):], v.detach().clone())
                      for k, v in state_dict.items() if k.startswith(prefix))
    if not out:
        raise SeCoCheckpointError(f"no '{prefix}*' keys in the state_dict")
    return out


def infer_resnet_cfg(state: dict) -> dict:
    """Infer ``dict(type='ResNet', depth=D)`` from ConvModule-named keys."""
    from mmaction.models.backbones import ResNet
    from mmaction.models.backbones.resnet import Bottleneck

    blocks = {}
    for key in state:
        m = re.match(r'layer(\d+)\.(\d+)\.', key)
        if m:
            stage, idx = int(m.group(1)), int(m.group(2))
            blocks[stage] = max(blocks.get(stage, 0), idx + 1)
    if not blocks or 'conv1.conv.weight' not in state:
        raise SeCoCheckpointError(
            'backbone keys are not an mmaction2 ResNet (expected '
            f"'conv1.conv.weight' and 'layerX.Y.*'; got {sorted(state)[:3]})")
    counts = tuple(blocks[i] for i in sorted(blocks))
    bottleneck = 'layer1.0.conv3.conv.weight' in state
    for depth, (block, stage_blocks) in ResNet.arch_settings.items():
        if (block is Bottleneck) == bottleneck and \
                stage_blocks[:len(counts)] == counts:
            cfg = dict(type='ResNet', depth=depth)
            if len(counts) < 4:
                cfg.update(num_stages=len(counts),
                           out_indices=(len(counts) - 1, ))
            return cfg
    raise SeCoCheckpointError(
        f'no ResNet depth has blocks {counts} (bottleneck={bottleneck})')


_TV_RULES = (
    # (ConvModule name pattern, torchvision replacement); order matters.
    (re.compile(r'^(.*downsample)\.conv\.(.+)$'), r'\1.0.\2'),
    (re.compile(r'^(.*downsample)\.bn\.(.+)$'), r'\1.1.\2'),
    (re.compile(r'^(.*)conv(\d+)\.conv\.(.+)$'), r'\1conv\2.\3'),
    (re.compile(r'^(.*)conv(\d+)\.bn\.(.+)$'), r'\1bn\2.\3'),
)


def to_torchvision_names(state: dict) -> 'OrderedDict[str, torch.Tensor]':
    """Rename ConvModule keys to torchvision's (what ResNet3d inflates from).

    ``conv1.conv.w -> conv1.w``, ``conv1.bn.w -> bn1.w``,
    ``layerX.Y.convN.{conv,bn}.w -> layerX.Y.{convN,bnN}.w``,
    ``layerX.Y.downsample.{conv,bn}.w -> layerX.Y.downsample.{0,1}.w``.
    """
    out = OrderedDict()
    for key, value in state.items():
        for pattern, repl in _TV_RULES:
            new, n = pattern.subn(repl, key)
            if n:
                break
        else:
            raise SeCoCheckpointError(
                f'backbone key {key!r} has no torchvision equivalent')
        out[new] = value
    return out


def read_backbone_state(path: str, key_encoder: bool = False
                        ) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """ResNet state dict and its config from a SeCo checkpoint or an export.

    Accepts a SeCo checkpoint (takes the query, or with ``key_encoder`` the
    momentum, backbone) or a file written by :func:`export_backbone` in the
    ``mmaction`` layout.

    Returns:
        tuple: (state dict with mmaction2 ResNet keys, backbone cfg dict).
    """
    ckpt = _torch_load(path)
    try:
        state = _state_dict_of(ckpt)
    except SeCoCheckpointError as err:
        raise SeCoCheckpointError(f'{path}: {err}') from None
    if 'queue' in state:
        ckpt = load_seco_checkpoint(path)
        try:
            backbone = extract_backbone(ckpt['state_dict'], key_encoder)
        except SeCoCheckpointError as err:
            raise SeCoCheckpointError(f'{path}: {err}') from None
    elif key_encoder:
        raise SeCoCheckpointError(
            f'{path}: key_encoder needs a SeCo checkpoint (no queue found)')
    else:
        backbone = OrderedDict((k[len(QUERY_PREFIX):], v)
                               for k, v in state.items()
                               if k.startswith(QUERY_PREFIX))
        if not backbone:
            raise SeCoCheckpointError(
                f"{path}: neither a SeCo checkpoint (no 'queue') nor an "
                f"exported backbone (no '{QUERY_PREFIX}*' keys)")
    meta = ckpt.get('meta') or {}
    cfg = meta.get('seco_backbone_cfg') if isinstance(meta, dict) else None
    cfg = dict(cfg) if cfg else infer_resnet_cfg(backbone)
    return backbone, cfg


def export_backbone(src: str,
                    dst: str,
                    key_encoder: bool = False,
                    layout: str = 'mmaction') -> Dict:
    """Write one encoder's backbone of a SeCo checkpoint as a plain file.

    Args:
        src: SeCo pretraining checkpoint.
        dst: output ``.pth``.
        key_encoder: export the momentum encoder's backbone.
        layout: ``'mmaction'`` (keys ``backbone.<ConvModule name>``) or
            ``'torchvision'`` (torchvision names, no prefix; for inflation).

    Returns:
        dict: summary with ``num_tensors``, ``num_params``, ``backbone_cfg``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    ckpt = load_seco_checkpoint(src)
    try:
        state = extract_backbone(ckpt['state_dict'], key_encoder)
    except SeCoCheckpointError as err:
        raise SeCoCheckpointError(f'{src}: {err}') from None
    meta_in = ckpt.get('meta') or {}
    cfg = meta_in.get('seco_backbone_cfg') if isinstance(meta_in, dict) \
        else None
    cfg = dict(cfg) if cfg else infer_resnet_cfg(state)
    if layout == 'mmaction':
        out_state = OrderedDict((QUERY_PREFIX + k, v) for k, v in state.items())
    else:
        out_state = to_torchvision_names(state)
    meta = dict(
        seco_backbone_cfg=cfg,
        source=osp.abspath(src),
        encoder='key' if key_encoder else 'query',
        layout=layout)
    torch.save({'state_dict': out_state, 'meta': meta}, dst)
    num_params = sum(v.numel() for k, v in state.items()
                     if not k.endswith('num_batches_tracked'))
    return dict(num_tensors=len(out_state), num_params=num_params,
                backbone_cfg=cfg, **{k: meta[k] for k in ('encoder', 'layout')})
