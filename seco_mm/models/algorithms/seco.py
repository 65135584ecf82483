"""SeCo: Sequence Contrastive Learning (Yao et al., AAAI 2021).

One training sample, from annotation line to losses:
``SeCoSampleFrames`` picks frames (a, b, c) and the order bit s ->
``SeCoMultiView`` makes views [q, k_same, k_b, k_c] -> ``PackActionInputs``
gives (4, 3, H, W) -> ``ActionDataPreprocessor`` normalises to
(B, 4, 3, H, W) -> :meth:`SeCo.loss`: q through the query encoder, the three
keys through the momentum encoder -> ``InterFrameHead``, ``IntraFrameHead``,
``OrderHead`` -> ``loss_inter + loss_intra + loss_order``.
"""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.dist import all_gather
from mmengine.model import BaseModel

from ..utils import (MomentumEncoder, batch_shuffle_ddp, batch_unshuffle_ddp,
                     load_moco_v2)

__all__ = ['SeCo']

NUM_VIEWS = 4  # q, k_same, k_b, k_c


@MODELS.register_module()
class SeCo(BaseModel):
    """SeCo self-supervised pretraining of a frame encoder.

    Args:
        backbone (dict): mmaction2 backbone config, e.g.
            ``dict(type='ResNet', depth=50)``; output (N, C, h, w).
        neck (dict): projector config (``SeCoProjector``), (N, C, h, w) ->
            dict of (N, D) embeddings named inter / intra / order.
        inter_head, intra_head, order_head (dict): loss heads.
        queue_len (int): number K of negatives in the queue (131072).
        feat_dim (int): embedding size D (128).
        key_forward (str): ``'batched'`` runs the three key views through the
            momentum encoder as one (3B) batch, so key BN statistics are
            computed over all key views together; ``'per_view'`` runs three
            (B) batches, each view normalised on its own. Losses are the
            same formulas either way; only BN statistics differ.
        moco_checkpoint (str, optional): MoCo v2 checkpoint to initialise the
            query (and so the momentum) encoder from, as the paper does.
        data_preprocessor (dict): usually ``ActionDataPreprocessor`` with
            ``format_shape='NCHW'`` and ImageNet mean/std.

    Buffers ``queue`` (K, D) and ``queue_ptr`` (1,) are part of the state
    dict, so checkpoints keep them and ``--resume`` restores them.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 inter_head: dict,
                 intra_head: dict,
                 order_head: dict,
                 queue_len: int = 131072,
                 feat_dim: int = 128,
                 key_forward: str = 'batched',
                 moco_checkpoint: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        _check_config(queue_len=queue_len, feat_dim=feat_dim,
                      key_forward=key_forward)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.inter_head = MODELS.build(inter_head)
        self.intra_head = MODELS.build(intra_head)
        self.order_head = MODELS.build(order_head)
        self.momentum_encoder = MomentumEncoder(
            nn.Sequential(self.backbone, self.neck))
        self.key_forward = key_forward
        self.moco_checkpoint = moco_checkpoint
        self.register_buffer(
            'queue', F.normalize(torch.randn(queue_len, feat_dim), dim=1))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

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

    # ---- encoders --------------------------------------------------------
    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """Pooled query-backbone features: (N, 3, H, W) -> (N, C)."""
        return self.neck.pool(self.backbone(inputs))

    @torch.no_grad()
    def encode_keys(self, keys: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Key embeddings: (V, B, 3, H, W) -> dict name -> (V, B, D).

        Keys are shuffled across processes for BN (MoCo's shuffling BN)
        under DDP; with one process the key batch is used as it is.
        """
        num_views, batch = keys.shape[:2]
        groups = ([keys.flatten(0, 1)] if self.key_forward == 'batched' else
                  list(keys.unbind(0)))
        outs = []
        for group in groups:
            shuffled, idx_unshuffle = batch_shuffle_ddp(group)
            emb = self.momentum_encoder(shuffled)
            outs.append({k: batch_unshuffle_ddp(v, idx_unshuffle)
                         for k, v in emb.items()})
        return {k: torch.cat([o[k] for o in outs]).view(num_views, batch, -1)
                for k in outs[0]}

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
        """SeCo's three losses and accuracies.

        Args:
            inputs: (B, 4, 3, H, W) normalised views [q, k_same, k_b, k_c].
            data_samples: B samples, each with the int field ``seco_order``.
        Returns:
            dict: loss_inter, loss_intra, loss_order (summed by mmengine)
            and acc_inter, acc_intra, acc_order (logged only).
        """
        if inputs.dim() != 5 or inputs.shape[1] != NUM_VIEWS:
            raise ValueError(f'SeCo expects inputs (B, {NUM_VIEWS}, 3, H, W), '
                             f'got {tuple(inputs.shape)}')
        order = torch.as_tensor([int(s.seco_order) for s in data_samples],
                                dtype=torch.long, device=inputs.device)
        q = self.neck(self.backbone(inputs[:, 0]))
        k = self.encode_keys(inputs[:, 1:].transpose(0, 1))  # (3, B, ...)
        losses = {}
        losses.update(self.inter_head.loss(q['inter'], k['inter'],
                                           self.queue.clone().detach()))
        losses.update(self.intra_head.loss(q['intra'], k['intra'][0],
                                           k['intra'][1:]))
        losses.update(self.order_head.loss(q['order'], k['order'][1],
                                           k['order'][2], order))
        self.enqueue(k['inter'].flatten(0, 1))
        return losses

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


def _check_config(queue_len, feat_dim, key_forward):
    """Reject impossible values at build time, naming the key."""
    if not isinstance(queue_len, int) or queue_len <= 0:
        raise ValueError(f'model.queue_len must be a positive int, got '
                         f'{queue_len!r}')
    if not isinstance(feat_dim, int) or feat_dim <= 0:
        raise ValueError(f'model.feat_dim must be a positive int, got '
                         f'{feat_dim!r}')
    if key_forward not in ('batched', 'per_view'):
        raise ValueError(f"model.key_forward must be 'batched' or 'per_view', "
                         f'got {key_forward!r}')
