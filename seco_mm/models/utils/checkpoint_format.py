"""Backbone files: the ResNet name map, reading once, building, writing.

This module is the project's only knowledge of how a ResNet backbone is laid
out in a file:

- **Name map** between mmaction2's ``ResNet`` (``ConvModule`` names:
  ``conv1.conv.weight``, ``conv1.bn.*``, ``layerX.Y.convN.{conv,bn}.*``,
  ``layerX.Y.downsample.{conv,bn}.*``) and torchvision's (``conv1.weight``,
  ``bn1.*``, ``layerX.Y.{convN,bnN}.*``, ``layerX.Y.downsample.{0,1}.*``),
  one table read in both directions (:data:`NAME_PAIRS`). MoCo, mmpretrain
  and plain torchvision checkpoints use torchvision's names.
- **Reading** a SeCo pretraining checkpoint (query backbone under
  ``backbone.``, key backbone under ``momentum_encoder.module.0.``) or an
  exported backbone (``mmaction`` or ``torchvision`` layout) with one
  weights-only read (:func:`read_backbone`).
- **Building** the ResNet: the architecture is inferred from the weights'
  names (stage/block counts, bottleneck or not) and checked against their
  shapes by a strict load. Nothing read from a file names a type or a
  callable: :func:`build_resnet` constructs mmaction2's ``ResNet`` class
  directly from a validated ``depth`` / ``num_stages`` / ``out_indices``; a
  ``meta['seco_backbone_cfg']`` in the file is only compared with what the
  weights say, and anything else in it is refused.
- **Writing** an export (:func:`write_backbone`), atomically.
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from seco_mm.engine.checkpoint_io import CheckpointError, atomic_replace
from seco_mm.engine.safe_load import is_remote, load_checkpoint_file

__all__ = [
    'SeCoCheckpointError', 'BackboneWeights', 'NAME_PAIRS', 'QUERY_PREFIX',
    'KEY_PREFIX', 'LAYOUTS', 'ALLOWED_CFG_KEYS', 'torchvision_name',
    'mmaction_name', 'to_torchvision_names', 'from_torchvision_names',
    'read_checkpoint', 'load_seco_checkpoint', 'read_backbone',
    'infer_resnet_cfg', 'validate_backbone_cfg', 'build_resnet',
    'build_backbone', 'load_backbone', 'write_backbone'
]

QUERY_PREFIX = 'backbone.'
KEY_PREFIX = 'momentum_encoder.module.0.'
LAYOUTS = ('mmaction', 'torchvision')
META_CFG_KEY = 'seco_backbone_cfg'
ALLOWED_CFG_KEYS = ('type', 'depth', 'num_stages', 'out_indices')


class SeCoCheckpointError(ValueError):
    """A file is not a usable backbone/SeCo checkpoint (names file and key)."""


# ---- the name map ---------------------------------------------------------
# (mmaction2 ConvModule name, torchvision name); {s} stage, {b} block,
# {n} conv index, {p} parameter or buffer name.
NAME_PAIRS = (
    ('conv1.conv.{p}', 'conv1.{p}'),
    ('conv1.bn.{p}', 'bn1.{p}'),
    ('layer{s}.{b}.conv{n}.conv.{p}', 'layer{s}.{b}.conv{n}.{p}'),
    ('layer{s}.{b}.conv{n}.bn.{p}', 'layer{s}.{b}.bn{n}.{p}'),
    ('layer{s}.{b}.downsample.conv.{p}', 'layer{s}.{b}.downsample.0.{p}'),
    ('layer{s}.{b}.downsample.bn.{p}', 'layer{s}.{b}.downsample.1.{p}'),
)


def _compile(template: str) -> 're.Pattern':
    pattern = re.escape(template)
    for name in 'sbn':
        pattern = pattern.replace(re.escape('{%s}' % name),
                                  f'(?P<{name}>\\d+)')
    return re.compile(pattern.replace(re.escape('{p}'), r'(?P<p>[A-Za-z_]+)'))


_MM_TO_TV = [(_compile(mm), tv) for mm, tv in NAME_PAIRS]
_TV_TO_MM = [(_compile(tv), mm) for mm, tv in NAME_PAIRS]


def _rename(key: str, rules) -> Optional[str]:
    for pattern, template in rules:
        m = pattern.fullmatch(key)
        if m:
            return template.format(**m.groupdict())
    return None


def torchvision_name(key: str) -> Optional[str]:
    """mmaction2 ResNet key -> torchvision key (None if not a ResNet key)."""
    return _rename(key, _MM_TO_TV)


def mmaction_name(key: str) -> Optional[str]:
    """torchvision ResNet key -> mmaction2 key (None if not a ResNet key)."""
    return _rename(key, _TV_TO_MM)


def _rename_all(state: dict, fn, what: str) -> 'OrderedDict':
    out = OrderedDict()
    for key, value in state.items():
        new = fn(key)
        if new is None:
            raise SeCoCheckpointError(f'backbone key {key!r} has no {what} '
                                      'equivalent')
        out[new] = value
    return out


def to_torchvision_names(state: dict) -> 'OrderedDict[str, torch.Tensor]':
    """Rename every mmaction2 ResNet key to torchvision's (what ResNet3d
    inflates from); an unknown key raises, naming it."""
    return _rename_all(state, torchvision_name, 'torchvision')


def from_torchvision_names(state: dict) -> 'OrderedDict[str, torch.Tensor]':
    """Rename every torchvision ResNet key to mmaction2's."""
    return _rename_all(state, mmaction_name, 'mmaction2 ResNet')


# ---- reading ----------------------------------------------------------------
@dataclass
class BackboneWeights:
    """One ResNet's weights as read from a file.

    Attributes:
        state: mmaction2 ResNet state dict (ConvModule names, no prefix).
        cfg: ``dict(type='ResNet', depth=D[, num_stages, out_indices])``
            inferred from ``state``.
        source: the file it came from.
        kind: ``'seco'`` (pretraining checkpoint), ``'mmaction'`` or
            ``'torchvision'`` (exported layouts).
        encoder: ``'query'`` or ``'key'`` for a SeCo checkpoint, else None.
    """
    state: 'OrderedDict[str, torch.Tensor]'
    cfg: dict
    source: str
    kind: str
    encoder: Optional[str] = None
    meta: dict = field(default_factory=dict)


def _where(path: str) -> str:
    return path if is_remote(path) else osp.abspath(path)


def read_checkpoint(path: str) -> dict:
    """One weights-only read of ``path``; returns a dict with ``state_dict``.

    A bare state dict is wrapped as ``{'state_dict': ...}``.

    Raises:
        SeCoCheckpointError: missing, unreadable, refused (pickled code), or
            not a dict of tensors; the message names the file.
    """
    if not is_remote(path) and not osp.isfile(path):
        raise SeCoCheckpointError(f'{path}: no such file')
    try:
        ckpt = load_checkpoint_file(path, map_location='cpu')
    except (CheckpointError, FileNotFoundError) as err:
        raise SeCoCheckpointError(str(err)) from err
    if not isinstance(ckpt, dict):
        raise SeCoCheckpointError(
            f'{path}: holds a {type(ckpt).__name__}, expected a checkpoint '
            'dict with a state_dict')
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise SeCoCheckpointError(f"{path}: 'state_dict' is not a dict")
    if 'state_dict' not in ckpt:
        ckpt = {'state_dict': state, 'meta': {}}
    return ckpt


def _check_seco(path: str, state: dict) -> None:
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


def load_seco_checkpoint(path: str) -> dict:
    """Read and validate a SeCo pretraining checkpoint (one read).

    Returns:
        dict: the checkpoint; ``ckpt['state_dict']`` has ``queue`` (K, D) and
        ``backbone.*`` keys.
    """
    ckpt = read_checkpoint(path)
    _check_seco(path, ckpt['state_dict'])
    return ckpt


def _strip(state: dict, prefix: str) -> 'OrderedDict[str, torch.Tensor]':
    return OrderedDict((k[len(prefix):], v) for k, v in state.items()
                       if k.startswith(prefix))


# the backbone read last with keep=True: (file identity, options, weights)
_kept: Dict[str, tuple] = {}


def _identity(path: str) -> tuple:
    """What makes a later read of ``path`` the same file: the URL, or the
    real path with size and modification time."""
    if is_remote(path):
        return (path, )
    st = os.stat(path)
    return (osp.realpath(path), st.st_size, st.st_mtime_ns)


def read_backbone(path: str, key_encoder: bool = False,
                  require_seco: bool = False,
                  keep: bool = False) -> BackboneWeights:
    """Read one ResNet from a SeCo checkpoint or an export, in one read.

    Accepts a SeCo checkpoint (the query backbone, or with ``key_encoder``
    the momentum encoder's), an ``mmaction``-layout export
    (``backbone.<ConvModule name>``) or a ``torchvision``-layout export
    (torchvision names, no prefix). ``require_seco`` refuses the exports.

    Args:
        keep (bool): hold the result in memory (one file at a time), so
            that the next ``keep=True`` read of the same, unchanged file
            (same size and modification time) returns it without reading
            again: a check of a file and the loads that follow it (the
            tracker's backbone) then share one read.

    Raises:
        SeCoCheckpointError: naming the file and the key at fault.
    """
    if not keep:
        return _read_backbone(path, key_encoder, require_seco)
    try:
        ident = (_identity(path), key_encoder, require_seco)
    except OSError:  # missing: let the read name it
        return _read_backbone(path, key_encoder, require_seco)
    if _kept.get('ident') != ident:
        _kept.clear()
        _kept.update(ident=ident, weights=_read_backbone(
            path, key_encoder, require_seco))
    return _kept['weights']


def _read_backbone(path: str, key_encoder: bool,
                   require_seco: bool) -> BackboneWeights:
    ckpt = read_checkpoint(path)
    state, meta = ckpt['state_dict'], ckpt.get('meta') or {}
    if not isinstance(meta, dict):
        meta = {}
    if 'queue' in state or require_seco:
        _check_seco(path, state)
        kind = 'seco'
        prefix = KEY_PREFIX if key_encoder else QUERY_PREFIX
        backbone = _strip(state, prefix)
        if not backbone:
            raise SeCoCheckpointError(
                f"{path}: no '{prefix}*' keys in the state_dict")
    elif key_encoder:
        raise SeCoCheckpointError(
            f'{path}: key_encoder needs a SeCo checkpoint (no queue found)')
    elif any(k.startswith(QUERY_PREFIX) for k in state):
        kind, backbone = 'mmaction', _strip(state, QUERY_PREFIX)
    elif 'conv1.weight' in state and 'bn1.weight' in state:
        kind = 'torchvision'
        try:
            backbone = from_torchvision_names(state)
        except SeCoCheckpointError as err:
            raise SeCoCheckpointError(f'{path}: {err}') from None
    else:
        raise SeCoCheckpointError(
            f"{path}: neither a SeCo checkpoint (no 'queue') nor an exported "
            f"backbone (no '{QUERY_PREFIX}*' keys, no torchvision "
            f"'conv1.weight'); keys start with {sorted(state)[:3]}")
    try:
        cfg = infer_resnet_cfg(backbone)
        validate_backbone_cfg(meta.get(META_CFG_KEY), cfg)
    except SeCoCheckpointError as err:
        raise SeCoCheckpointError(f'{path}: {err}') from None
    encoder = ('key' if key_encoder else 'query') if kind == 'seco' else None
    return BackboneWeights(backbone, cfg, _where(path), kind, encoder,
                           {k: meta[k] for k in ('source', 'encoder',
                                                 'layout') if k in meta})


# ---- the architecture: inferred, validated, built ------------------------
def infer_resnet_cfg(state: dict) -> dict:
    """``dict(type='ResNet', depth=D)`` from mmaction2 ResNet key names.

    Counts the blocks per stage (``layerX.Y.``) and whether blocks are
    bottlenecks (``layer1.0.conv3``); a backbone with fewer than 4 stages
    gets ``num_stages`` and ``out_indices`` (its last stage).
    """
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
    if sorted(blocks) != list(range(1, len(blocks) + 1)):
        raise SeCoCheckpointError(f'backbone stages {sorted(blocks)} are not '
                                  'layer1..layerN')
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


def validate_backbone_cfg(meta_cfg, inferred: dict) -> dict:
    """Accept a file's ``meta['seco_backbone_cfg']`` only if it is data that
    agrees with the weights; return the config to build (``inferred``).

    It may be absent; otherwise a dict with keys among
    :data:`ALLOWED_CFG_KEYS`, ``type='ResNet'`` and the same depth / stages
    as inferred. Anything else (another type, a dotted callable name, extra
    keys) is refused: a checkpoint never chooses what gets built.
    """
    if meta_cfg is None:
        return inferred
    key = f"meta['{META_CFG_KEY}']"
    if not isinstance(meta_cfg, dict):
        raise SeCoCheckpointError(f'{key} is a {type(meta_cfg).__name__}, '
                                  'not a dict; refused')
    extra = sorted(str(k) for k in meta_cfg if k not in ALLOWED_CFG_KEYS)
    if extra:
        raise SeCoCheckpointError(
            f'{key} has keys {extra}; only {list(ALLOWED_CFG_KEYS)} are '
            'accepted (a checkpoint never chooses code or options); refused')
    if meta_cfg.get('type', 'ResNet') != 'ResNet':
        raise SeCoCheckpointError(
            f"{key}['type'] is {meta_cfg.get('type')!r}; only mmaction2's "
            "'ResNet' is built from checkpoints; refused")
    for k in ('depth', 'num_stages', 'out_indices'):
        if k not in meta_cfg:
            continue
        want = inferred.get(k, {'num_stages': 4, 'out_indices': (3, )}.get(k))
        got = meta_cfg[k]
        got = tuple(got) if isinstance(got, list) else got
        if got != want:
            raise SeCoCheckpointError(
                f'{key}[{k!r}] is {meta_cfg[k]!r} but the weights are a '
                f"ResNet-{inferred['depth']} with {k}={want!r}; refused")
    return inferred


def build_resnet(cfg: dict) -> nn.Module:
    """mmaction2's ``ResNet`` from a validated cfg (no registry lookup)."""
    from mmaction.models.backbones import ResNet

    unknown = set(cfg) - set(ALLOWED_CFG_KEYS)
    if cfg.get('type') != 'ResNet' or unknown:
        raise SeCoCheckpointError(f'refusing to build {cfg!r}')
    kwargs = {k: v for k, v in cfg.items() if k != 'type'}
    stages = kwargs.get('num_stages', 4)  # ResNet's defaults, truncated
    kwargs.update(strides=(1, 2, 2, 2)[:stages],
                  dilations=(1, 1, 1, 1)[:stages])
    return ResNet(pretrained=None, **kwargs)


def build_backbone(weights: BackboneWeights) -> nn.Module:
    """The ResNet of ``weights`` with every tensor loaded, in eval mode.

    Raises:
        SeCoCheckpointError: a tensor is missing, extra or mis-shaped.
    """
    model = build_resnet(weights.cfg)
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights.state]
    extra = [k for k in weights.state if k not in expected]
    shapes = [f'{k}: file {tuple(v.shape)} vs model '
              f'{tuple(expected[k].shape)}'
              for k, v in weights.state.items()
              if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if missing or extra or shapes:
        raise SeCoCheckpointError(
            f'{weights.source}: backbone tensors do not fit a '
            f"ResNet-{weights.cfg['depth']}: missing {missing[:5]}, "
            f'unexpected {extra[:5]}, shape mismatch {shapes[:3]}')
    model.load_state_dict(weights.state, strict=True)
    model.eval()  # mmaction2's ResNet.train() returns None: no chaining
    return model


def load_backbone(path: str, key_encoder: bool = False
                  ) -> Tuple[nn.Module, BackboneWeights]:
    """Read ``path`` once and return (eval-mode ResNet, its weights)."""
    weights = read_backbone(path, key_encoder=key_encoder)
    return build_backbone(weights), weights


# ---- writing ----------------------------------------------------------------
def num_values(state: Dict[str, torch.Tensor]) -> int:
    """Parameters and BN statistics (``num_batches_tracked`` excluded)."""
    return sum(v.numel() for k, v in state.items()
               if not k.endswith('num_batches_tracked'))


def write_backbone(weights: BackboneWeights, dst: str,
                   layout: str = 'mmaction') -> dict:
    """Write ``weights`` as ``{'state_dict': ..., 'meta': ...}``, atomically.

    Args:
        layout: ``'mmaction'`` (keys ``backbone.<ConvModule name>``; load with
            ``init_cfg=dict(type='Pretrained', prefix='backbone.')``) or
            ``'torchvision'`` (torchvision names, no prefix; what mmaction2's
            ``ResNet3d(pretrained2d=True)`` inflates).

    Returns:
        dict: ``num_tensors``, ``num_params``, ``backbone_cfg``, ``encoder``,
        ``layout``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if layout == 'mmaction':
        out = OrderedDict((QUERY_PREFIX + k, v.detach().clone())
                          for k, v in weights.state.items())
    else:
        out = OrderedDict((k, v.detach().clone()) for k, v in
                          to_torchvision_names(weights.state).items())
    meta = dict({META_CFG_KEY: dict(weights.cfg)}, source=weights.source,
                encoder=weights.encoder or weights.meta.get('encoder'),
                layout=layout)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save({'state_dict': out, 'meta': meta}, tmp)
    atomic_replace(tmp, dst)
    return dict(num_tensors=len(out), num_params=num_values(weights.state),
                backbone_cfg=dict(weights.cfg), encoder=meta['encoder'],
                layout=layout)
