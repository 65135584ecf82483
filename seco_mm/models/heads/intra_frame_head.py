"""Intra-frame instance discrimination: "same frame?" (Sec. 3.2, task 2)."""
from typing import Dict

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS

from .full_precision import float32_loss
from .temperature_head import TemperatureHead

__all__ = ['IntraFrameHead']


@MODELS.register_module()
class IntraFrameHead(TemperatureHead):
    """Two-way softmax: the same-frame key against each other-frame key.

    Rows ``[q . k_same, q . k_x] / T`` for ``x`` in the other-frame keys,
    positive first; no queue. The 2-way cross-entropy of a row equals
    ``softplus((q . k_x - q . k_same) / T)``.

    Precision: ``loss`` runs in float32 under autocast (``float32_loss``),
    so the margins of two logits of magnitude up to 1/T are not rounded to
    bfloat16 / float16.

    Args:
        temperature (float): softmax temperature T (0.1 in the paper).
        loss_weight (float): weight of ``loss_intra``.
    """

    config_key = 'model.intra_head'

    @float32_loss
    def loss(self, q: torch.Tensor, k_same: torch.Tensor,
             k_others: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            q: (B, D) query embeddings.
            k_same: (B, D) embeddings of the same frame's other augmentation.
            k_others: (V', B, D) embeddings of frames from the other half.
        Returns:
            dict: ``loss_intra`` and ``acc_intra`` (percent of rows won by
            the same-frame key).
        """
        pos = (q * k_same).sum(dim=1) / self.temperature  # (B,)
        neg = torch.einsum('bd,vbd->vb', q, k_others) / self.temperature
        margin = neg - pos.unsqueeze(0)  # (V', B)
        loss = F.softplus(margin).mean()
        acc = (margin < 0).float().mean().detach()
        return dict(loss_intra=self.loss_weight * loss, acc_intra=acc * 100)
