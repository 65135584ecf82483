"""SeCo: Sequence Contrastive Learning (Yao et al., AAAI 2021).

One training sample, from annotation line to losses:
``SeCoSampleFrames`` picks frames (a, b, c) and the order bit s ->
``SeCoMultiView`` makes views [q, k_same, k_b, k_c] -> ``PackActionInputs``
gives (4, 3, H, W) -> ``ActionDataPreprocessor`` normalises to
(B, 4, 3, H, W) -> :meth:`SeCo.loss`: q through the query encoder, the key
views through the momentum encoder -> ``InterFrameHead``,
``IntraFrameHead``, ``OrderHead`` -> ``loss_inter + loss_intra +
loss_order``. docs/method.md explains each step.

MoCo v2 on frames (the ablation baseline, docs/ablation.md) samples one
frame (``SeCoSampleFrames(one_frame=True)``) and makes two views [q, k_same]
of it: (B, 2, 3, H, W) inputs, accepted only with the inter head alone and
``inter_keys='same_frame'``.
"""
import contextlib
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.dist import all_gather, all_reduce, get_world_size
from mmengine.logging import print_log
from mmengine.model import BaseModel

from ..utils.batch_shuffle import (batch_shuffle_ddp, batch_unshuffle_ddp,
                                   split_shuffle_indices)
from ..utils.moco_init import load_moco_v2
from ..utils.momentum_encoder import MomentumEncoder
from ..utils.split_batch_norm import convert_split_bn, set_split_bn_groups

__all__ = ['SeCo', 'active_heads']

NUM_VIEWS = 4  # q, k_same, k_b, k_c
TWO_VIEWS = 2  # q, k_same: one frame, MoCo v2 on frames
HEADS = ('inter', 'intra', 'order')
# key views (0: k_same, 1: k_b, 2: k_c) that each task reads
_VIEWS_OF = dict(inter=(0, 1, 2), intra=(0, 1, 2), order=(1, 2))


def _is_active(head_cfg: Optional[dict]) -> bool:
    """A head is on unless its config is None or its loss_weight is 0."""
    return head_cfg is not None and head_cfg.get('loss_weight', 1.0) != 0


def active_heads(model_cfg: dict) -> Tuple[str, ...]:
    """The heads a SeCo model config turns on, in ``HEADS`` order (what
    :attr:`SeCo.active_heads` will be), without building the model."""
    return tuple(h for h in HEADS if _is_active(model_cfg.get(f'{h}_head')))


@MODELS.register_module()
class SeCo(BaseModel):
    """SeCo self-supervised pretraining of a frame encoder.

    Args:
        backbone (dict): mmaction2 backbone config, e.g.
            ``dict(type='ResNet', depth=50)``; output (N, C, h, w).
        neck (dict): projector config (``SeCoProjector``), (N, C, h, w) ->
            dict of (N, D) embeddings, one per active head; its ``names``
            are set from the active heads (a given ``names`` must agree).
        inter_head, intra_head, order_head (dict | None): loss heads. A head
            that is None or has ``loss_weight=0`` is off: not built, its
            projector branch not built, its key views not encoded, its loss
            not computed. At least one head must be on.
        queue_len (int): number K of negatives in the queue (131072).
        feat_dim (int, optional): embedding size D. Derived from
            ``neck.out_channels``; if given it must agree. The order head's
            ``in_channels`` is derived the same way.
        key_forward (str): ``'per_view'`` (default, the reference code):
            each key view is shuffled and forwarded through the momentum
            encoder as its own BN batch of B. ``'batched'``: one (3B) batch,
            faster, BN statistics over all key views together.
        split_bn_groups (int): G, devices emulated when the world size is 1
            (MoCo's SplitBatchNorm): every BatchNorm of both encoders
            normalises G groups of the batch separately in train mode, and
            keys are shuffled across the groups. 1 turns it off. Under DDP
            it is ignored (MoCo's cross-process shuffle is used). A batch
            not divisible by G uses the largest divisor of B below G that
            leaves >= 2 samples per group (warned once).
        inter_keys (str): positives of the inter-frame loss: ``'all'`` (the
            paper: k_same, k_b, k_c) or ``'same_frame'`` (k_same only:
            with the inter head alone this is MoCo v2 on frames, and the
            model also accepts two-view inputs (B, 2, 3, H, W) from a
            one-frame sampler).
        moco_checkpoint (str, optional): MoCo v2 checkpoint to initialise the
            query (and so the momentum) encoder from, as the paper does.
        data_preprocessor (dict): usually ``ActionDataPreprocessor`` with
            ``format_shape='NCHW'`` and ImageNet mean/std.

    Buffers ``queue`` (K, D) and ``queue_ptr`` (1,) are part of the state
    dict, so checkpoints keep them and ``--resume`` restores them; loading a
    state dict whose queue has another shape is refused, and a state dict
    with query weights only (an exported backbone) fills both encoders.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 inter_head: Optional[dict] = None,
                 intra_head: Optional[dict] = None,
                 order_head: Optional[dict] = None,
                 queue_len: int = 131072,
                 feat_dim: Optional[int] = None,
                 key_forward: str = 'per_view',
                 split_bn_groups: int = 4,
                 inter_keys: str = 'all',
                 moco_checkpoint: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        head_cfgs = dict(inter_head=inter_head, intra_head=intra_head,
                         order_head=order_head)
        self.active_heads = active_heads(head_cfgs)
        _check_config(queue_len=queue_len, key_forward=key_forward,
                      split_bn_groups=split_bn_groups, inter_keys=inter_keys,
                      active=self.active_heads)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(_neck_cfg(neck, self.active_heads))
        dim = _embedding_size(self.neck, feat_dim)
        for name in self.active_heads:
            cfg = dict(head_cfgs[f'{name}_head'])
            if name == 'order':
                cfg = _order_head_cfg(cfg, dim)
            setattr(self, f'{name}_head', MODELS.build(cfg))
        self.split_bn_groups = split_bn_groups
        if split_bn_groups > 1:  # before the copy: both encoders are split
            convert_split_bn(self.backbone)
            convert_split_bn(self.neck)
        self.momentum_encoder = MomentumEncoder(
            nn.Sequential(self.backbone, self.neck))
        self.key_forward = key_forward
        self.inter_keys = inter_keys
        self.moco_checkpoint = moco_checkpoint
        views = set()
        for name in self.active_heads:
            views |= set((0, ) if name == 'inter' and inter_keys ==
                         'same_frame' else _VIEWS_OF[name])
        self.key_views = tuple(sorted(views))  # indices into the 3 key views
        self.register_buffer(
            'queue', F.normalize(torch.randn(queue_len, dim), dim=1))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))
        self._register_load_state_dict_pre_hook(self._check_loaded_state)
        self._defer_enqueue = False
        self._pending_keys = None
        self._warned_groups = set()
        self._train_steps = 0
        self._ema_steps_seen = None

    @property
    def feat_dim(self) -> int:
        """Embedding size D (the projector's output size)."""
        return self.queue.shape[1]

    # ---- initialisation and momentum update -------------------------------
    @property
    def query_encoder(self) -> nn.Sequential:
        """The trained encoder whose EMA is the key encoder."""
        return nn.Sequential(self.backbone, self.neck)

    def init_weights(self) -> None:
        """Initialise the query encoder, then copy it into the key encoder."""
        super().init_weights()
        if self.moco_checkpoint:
            load_moco_v2(self, self.moco_checkpoint)
        self.momentum_encoder.copy_from(self.query_encoder)

    def momentum_update(self, momentum: float) -> None:
        """``key = m * key + (1 - m) * query`` over parameters (see hook)."""
        self.momentum_encoder.update_parameters(self.query_encoder, momentum)

    # ---- split BN (one process emulating several devices) ------------------
    def bn_groups(self, batch: int) -> int:
        """Split-BN groups for a per-view batch of ``batch`` samples."""
        groups = self.split_bn_groups
        if groups <= 1 or get_world_size() > 1:
            return 1
        usable = max(g for g in range(1, groups + 1)
                     if batch % g == 0 and (batch // g >= 2 or g == 1))
        if usable != groups and batch not in self._warned_groups:
            self._warned_groups.add(batch)
            print_log(f'SeCo: batch {batch} cannot be split into '
                      f'model.split_bn_groups={groups} groups of >= 2 '
                      f'samples; using {usable} group(s) for it',
                      logger='current', level=30)
        return usable

    @contextlib.contextmanager
    def _split(self, module: nn.Module, groups: int):
        set_split_bn_groups(module, groups)
        try:
            yield
        finally:
            set_split_bn_groups(module, 1)

    # ---- encoders --------------------------------------------------------
    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """Pooled query-backbone features: (N, 3, H, W) -> (N, C)."""
        return self.neck.pool(self.backbone(inputs))

    def encode_query(self, q: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Query embeddings: (B, 3, H, W) -> dict name -> (B, D).

        With split BN, sample i is normalised within group ``i % G``.
        """
        with self._split(self.query_encoder, self.bn_groups(q.shape[0])):
            return self.neck(self.backbone(q))

    @torch.no_grad()
    def encode_keys(self, keys: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Key embeddings: (V, B, 3, H, W) -> dict name -> (V, B, D).

        Keys are shuffled for BN: across processes under DDP (MoCo's
        shuffling BN), across split-BN groups with one process, so that no
        key shares its BN statistics with exactly its query's group.
        """
        num_views, batch = keys.shape[:2]
        groups = self.bn_groups(batch)
        chunks = ([keys.flatten(0, 1)] if self.key_forward == 'batched' else
                  list(keys.unbind(0)))
        outs = []
        with self._split(self.momentum_encoder, groups):
            for chunk in chunks:
                outs.append(self._forward_shuffled(chunk, batch, groups))
        return {k: torch.cat([o[k] for o in outs]).view(num_views, batch, -1)
                for k in outs[0]}

    def _forward_shuffled(self, x: torch.Tensor, batch: int,
                          groups: int) -> Dict[str, torch.Tensor]:
        """Key encoder on x (N, 3, H, W), N = views x batch, un-shuffled."""
        if get_world_size() > 1:
            shuffled, idx_unshuffle = batch_shuffle_ddp(x)
            emb = self.momentum_encoder(shuffled)
            return {k: batch_unshuffle_ddp(v, idx_unshuffle)
                    for k, v in emb.items()}
        if groups == 1:
            return self.momentum_encoder(x)
        index = torch.arange(x.shape[0], device=x.device)
        perm = split_shuffle_indices(index % batch % groups, groups)
        emb = self.momentum_encoder(x[perm])
        inverse = torch.argsort(perm)
        return {k: v[inverse] for k, v in emb.items()}

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write keys (N, D), gathered from all processes, into the queue.

        The queue is a ring buffer: writes wrap around, and its size never
        changes.
        """
        keys = torch.cat(all_gather(keys.contiguous()))
        queue_len = self.queue.shape[0]
        if keys.shape[0] > queue_len:
            keys = keys[-queue_len:]
        ptr = int(self.queue_ptr)
        idx = (ptr + torch.arange(keys.shape[0], device=keys.device)) % queue_len
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + keys.shape[0]) % queue_len

    # ---- BaseModel API ---------------------------------------------------
    def loss(self, inputs: torch.Tensor,
             data_samples: List) -> Dict[str, torch.Tensor]:
        """SeCo's losses and accuracies (active heads only).

        Args:
            inputs: (B, 4, 3, H, W) normalised views [q, k_same, k_b, k_c],
                or (B, 2, 3, H, W) views [q, k_same] of one frame when only
                k_same is read (:attr:`accepts_two_views`).
            data_samples: B samples, each with the int field ``seco_order``
                (read by the order head only).
        Returns:
            dict: loss_inter, loss_intra, loss_order (summed by mmengine)
            and acc_inter, acc_intra, acc_order (logged only).

        The inter keys of this step join the queue after the loss: at once
        (on a copy of the queue for the loss) when called directly, or after
        the optimizer step without any copy when called by
        :meth:`train_step` (autograd keeps the queue for q's gradient).
        """
        self._check_views(inputs)
        self._pending_keys = None
        q = self.encode_query(inputs[:, 0])
        # key view v is input view 1 + v; with two views only v = 0 is read
        views = [1 + v for v in self.key_views]
        k = self.encode_keys(inputs[:, views].transpose(0, 1))  # (V', B, ..)

        def key(name, view):  # (B, D) embedding of key view 0/1/2
            return k[name][self.key_views.index(view)]

        losses = {}
        if 'inter' in self.active_heads:
            inter_views = (0, ) if self.inter_keys == 'same_frame' else (
                0, 1, 2)
            positives = torch.stack([key('inter', v) for v in inter_views])
            queue = self.queue if self._defer_enqueue else self.queue.clone()
            losses.update(self.inter_head.loss(q['inter'], positives, queue))
            new_keys = positives.flatten(0, 1)
            if self._defer_enqueue:
                self._pending_keys = new_keys
            else:
                self.enqueue(new_keys)
        if 'intra' in self.active_heads:
            losses.update(self.intra_head.loss(
                q['intra'], key('intra', 0),
                torch.stack([key('intra', 1), key('intra', 2)])))
        if 'order' in self.active_heads:
            order = torch.as_tensor([int(s.seco_order) for s in data_samples],
                                    dtype=torch.long, device=inputs.device)
            losses.update(self.order_head.loss(
                q['order'], key('order', 1), key('order', 2), order))
        return losses

    @property
    def accepts_two_views(self) -> bool:
        """True when the losses read only q and k_same (MoCo v2 on frames:
        the inter head alone with ``inter_keys='same_frame'``), so inputs
        may carry two views of one frame instead of four."""
        return self.key_views == (0, )

    def _check_views(self, inputs: torch.Tensor) -> None:
        """Inputs must be (B, 4, 3, H, W), or (B, 2, 3, H, W) when only
        q and k_same are read; else a ValueError naming the config keys."""
        views = inputs.shape[1] if inputs.dim() == 5 else None
        if views == NUM_VIEWS or (views == TWO_VIEWS
                                  and self.accepts_two_views):
            return
        if views == TWO_VIEWS:
            raise ValueError(
                f'SeCo got 2 views per sample (B, 2, 3, H, W) = '
                f'{tuple(inputs.shape)}: one frame, as '
                'SeCoSampleFrames(one_frame=True) samples, only fits MoCo v2 '
                'on frames, but this model has active heads '
                f'{self.active_heads} and model.inter_keys='
                f'{self.inter_keys!r}. Either set model.intra_head=None, '
                "model.order_head=None and model.inter_keys='same_frame', or "
                'remove one_frame=True from the SeCoSampleFrames of '
                'train_dataloader.dataset.pipeline (SeCo needs the frame '
                'triplet and 4 views)')
        raise ValueError(f'SeCo expects inputs (B, {NUM_VIEWS}, 3, H, W) '
                         f'(or (B, {TWO_VIEWS}, 3, H, W) for MoCo v2 on '
                         f'frames), got {tuple(inputs.shape)}')

    def train_step(self, data, optim_wrapper) -> Dict[str, torch.Tensor]:
        """mmengine's step, with the enqueue after the optimizer step.

        The loss reads the queue itself (no 64 MiB copy at K = 131072); the
        keys are enqueued once backward no longer needs it, and only if
        every loss term is finite, so a step that
        ``SeCoNonFiniteLossHook(action='skip')`` drops leaves the queue as
        it was. (Under DDP, mmengine's wrapper runs its own train_step and
        :meth:`loss` falls back to the copy.)
        """
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            self._defer_enqueue = True
            try:
                losses = self._run_forward(data, mode='loss')
            finally:
                self._defer_enqueue = False
        parsed_losses, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(parsed_losses)
        pending, self._pending_keys = self._pending_keys, None
        if pending is not None and _all_finite(losses):
            self.enqueue(pending)
        return log_vars

    def parse_losses(self, losses: Dict) -> Tuple[torch.Tensor, Dict]:
        """mmengine's sum of the losses, after checking that the key
        encoder was updated since the previous training step."""
        self._check_momentum_updates()
        return super().parse_losses(losses)

    def _check_momentum_updates(self) -> None:
        steps = int(self.momentum_encoder.steps)
        if self._train_steps > 0 and steps == self._ema_steps_seen:
            raise RuntimeError(
                f'SeCo: the key (momentum) encoder was not updated after '
                f'training step {self._train_steps}, so it would stay '
                'frozen at its initial weights. Add the momentum update to '
                "the config: custom_hooks = [dict(type='SeCoMomentumHook', "
                "momentum=0.999)] (configs/_base_/seco_runtime.py has it; a "
                'config that sets custom_hooks replaces that list), or call '
                'model.momentum_update(m) after each optimizer step.')
        self._train_steps += 1
        self._ema_steps_seen = steps

    def predict(self, inputs: torch.Tensor, data_samples: List) -> List:
        """Attach pooled query-backbone features of view 0 as ``feature``."""
        feats = self.extract_feat(inputs[:, 0] if inputs.dim() == 5 else inputs)
        for sample, feat in zip(data_samples, feats):
            sample.set_field(feat, 'feature')
        return data_samples

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(
                inputs[:, 0] if inputs.dim() == 5 else inputs)
        raise RuntimeError(f'Invalid mode {mode!r}')

    # ---- checkpoints -----------------------------------------------------
    def _check_loaded_state(self, state_dict, prefix, local_metadata, strict,
                            missing_keys, unexpected_keys, error_msgs):
        """Pre-hook of ``load_state_dict`` (resume, ``load_from``).

        Refuses a queue of another shape (a resumed run would silently get
        a new random queue), and copies query weights into the key encoder
        when the state dict has none (an exported backbone).
        """
        saved = state_dict.get(prefix + 'queue')
        if saved is not None and tuple(saved.shape) != tuple(
                self.queue.shape):
            (k_old, d_old), (k_new, d_new) = saved.shape, self.queue.shape
            raise ValueError(
                f'the checkpoint was trained with model.queue_len={k_old} '
                f'and embedding size (model.neck.out_channels) {d_old}, this '
                f'model has queue_len={k_new} and {d_new}: resuming would '
                'start from a new random queue. Use the checkpoint\'s values '
                'to resume it, or export its backbone '
                '(tools/export_backbone.py) and start a new run from that.')
        key_prefix = prefix + 'momentum_encoder.module.'
        if any(k.startswith(key_prefix) for k in state_dict):
            return
        copied = 0
        for part, index in (('backbone.', '0.'), ('neck.', '1.')):
            for name in [k for k in state_dict if k.startswith(prefix + part)]:
                target = key_prefix + index + name[len(prefix + part):]
                state_dict[target] = state_dict[name]
                copied += 1
        if copied:
            print_log(f'SeCo: the loaded weights have no key encoder '
                      f'(momentum_encoder.*), e.g. an exported backbone: '
                      f'{copied} query tensors (backbone.*, neck.*) were '
                      'copied into the key encoder as well', logger='current')


def _neck_cfg(neck: dict, active: Sequence[str]) -> dict:
    """The projector config with one branch per active head."""
    neck = dict(neck)
    given = neck.get('names')
    if given is not None and set(given) != set(active):
        raise ValueError(f'model.neck.names {tuple(given)} must list the '
                         f'active heads {tuple(active)} (or be left out: it '
                         'is set from them)')
    neck['names'] = tuple(active)
    return neck


def _embedding_size(neck: nn.Module, feat_dim: Optional[int]) -> int:
    """D from the projector; ``model.feat_dim``, if given, must agree."""
    dim = getattr(neck, 'out_channels', None)
    if dim is None:
        raise ValueError(f'model.neck ({type(neck).__name__}) must have an '
                         'out_channels attribute (the embedding size)')
    if feat_dim is not None and feat_dim != dim:
        raise ValueError(f'model.feat_dim={feat_dim!r} disagrees with '
                         f'model.neck.out_channels={dim}; remove '
                         'model.feat_dim (it is derived from the projector)')
    return dim


def _order_head_cfg(cfg: dict, dim: int) -> dict:
    """Order head's per-view input size D, from the projector."""
    given = cfg.get('in_channels')
    if given is not None and given != dim:
        raise ValueError(f'model.order_head.in_channels={given!r} disagrees '
                         f'with model.neck.out_channels={dim}; remove it (it '
                         'is derived from the projector)')
    cfg['in_channels'] = dim
    return cfg


def _all_finite(losses: Dict) -> bool:
    """All loss terms finite (on every process)."""
    ok = all(bool(torch.isfinite(v.detach()).all())
             for k, v in losses.items()
             if 'loss' in k and isinstance(v, torch.Tensor))
    if get_world_size() > 1:
        flag = torch.tensor([0.0 if ok else 1.0])
        all_reduce(flag)
        ok = flag.item() == 0
    return ok


def _check_config(queue_len, key_forward, split_bn_groups, inter_keys,
                  active):
    """Reject impossible values at build time, naming the key."""
    def positive_int(value):
        return (isinstance(value, int) and not isinstance(value, bool)
                and value > 0)

    if not positive_int(queue_len):
        raise ValueError(f'model.queue_len must be a positive int, got '
                         f'{queue_len!r}')
    if key_forward not in ('batched', 'per_view'):
        raise ValueError(f"model.key_forward must be 'batched' or 'per_view', "
                         f'got {key_forward!r}')
    if not positive_int(split_bn_groups):
        raise ValueError('model.split_bn_groups must be a positive int (1: '
                         f'off), got {split_bn_groups!r}')
    if inter_keys not in ('all', 'same_frame'):
        raise ValueError("model.inter_keys must be 'all' or 'same_frame', "
                         f'got {inter_keys!r}')
    if not active:
        raise ValueError('SeCo needs at least one active head: '
                         'model.inter_head / intra_head / order_head are all '
                         'None or have loss_weight 0')
