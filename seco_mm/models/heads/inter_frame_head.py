"""Inter-frame instance discrimination: "same video?" (Sec. 3.2, task 1)."""
from typing import Dict

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS

from .full_precision import float32_loss
from .temperature_head import TemperatureHead

__all__ = ['InterFrameHead']


@MODELS.register_module()
class InterFrameHead(TemperatureHead):
    """InfoNCE of the query against each key view, with a shared queue.

    For every key view ``v`` the logits row of sample ``i`` is
    ``[q_i . k_vi, q_i . queue_0, ..., q_i . queue_{K-1}] / T`` with the
    positive at column 0, i.e. ``V * B`` rows in total. Because all rows of
    one query share the same negatives, the loss is computed as
    ``softplus(logsumexp(neg_i) - pos_vi)``, which equals cross-entropy on
    the full ``(V*B, 1+K)`` logits without materialising them V times.

    Precision: ``loss`` runs in float32 under autocast (``float32_loss``):
    the similarities to the K queue keys and their ``logsumexp`` are
    computed from float32 copies of ``q``/``keys`` and the float32 queue,
    since a half-precision sum over K = 131072 exponentials of logits up to
    1/T = 10 loses the positive's contribution (and overflows in float16).

    Args:
        temperature (float): softmax temperature T (0.1 in the paper).
        loss_weight (float): weight of ``loss_inter``.
    """

    config_key = 'model.inter_head'

    @float32_loss
    def loss(self, q: torch.Tensor, keys: torch.Tensor,
             queue: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            q: (B, D) query embeddings.
            keys: (V, B, D) positive key embeddings, one row per key view.
            queue: (K, D) negative embeddings.
        Returns:
            dict: ``loss_inter`` (scalar) and ``acc_inter`` (percent of rows
            whose positive beats every negative).
        """
        pos = torch.einsum('bd,vbd->vb', q, keys) / self.temperature
        neg = q @ queue.t() / self.temperature  # (B, K)
        neg_lse = torch.logsumexp(neg, dim=1)  # (B,)
        loss = F.softplus(neg_lse.unsqueeze(0) - pos).mean()
        with torch.no_grad():
            acc = (pos > neg.max(dim=1).values.unsqueeze(0)).float().mean()
        return dict(loss_inter=self.loss_weight * loss, acc_inter=acc * 100)
