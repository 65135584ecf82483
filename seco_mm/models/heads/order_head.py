"""Temporal order validation: "correct order?" (Sec. 3.2, task 3)."""
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from .full_precision import float32_loss
from .temperature_head import check_loss_weight

__all__ = ['OrderHead']


@MODELS.register_module()
class OrderHead(BaseModule):
    """Linear classifier of the order bit from ``[q, k_b, k_c]`` embeddings.

    ``loss`` runs in float32 under autocast (``float32_loss``): the linear
    layer and the cross-entropy see float32 copies of the embeddings.

    Args:
        in_channels (int): embedding size D of one view (128); the
            classifier sees ``3 * D``.
        loss_weight (float): weight of ``loss_order``, >= 0.
    """

    config_key = 'model.order_head'

    def __init__(self, in_channels: int = 128, loss_weight: float = 1.0,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        check_loss_weight(self.config_key, loss_weight)
        self.fc = nn.Linear(3 * in_channels, 2)
        self.loss_weight = loss_weight

    def forward(self, q: torch.Tensor, k_b: torch.Tensor,
                k_c: torch.Tensor) -> torch.Tensor:
        """(B, D) x 3 -> (B, 2) order logits."""
        return self.fc(torch.cat([q, k_b, k_c], dim=1))

    @float32_loss
    def loss(self, q: torch.Tensor, k_b: torch.Tensor, k_c: torch.Tensor,
             order: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            q, k_b, k_c: (B, D) order embeddings (query, earlier key, later key).
            order: (B,) long, the order bit s of each sample.
        Returns:
            dict: ``loss_order`` and ``acc_order`` (percent correct).
        """
        logits = self(q, k_b, k_c)
        loss = F.cross_entropy(logits, order)
        acc = (logits.argmax(dim=1) == order).float().mean().detach()
        return dict(loss_order=self.loss_weight * loss, acc_order=acc * 100)
