"""Balanced logistic loss of SiamFC (Bertinetto et al. 2016, section 2.2)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmaction.registry import MODELS


@MODELS.register_module()
class BalancedLogisticLoss(nn.Module):
    """Logistic loss on score maps with positives and negatives weighted 1:1.

    Each positive cell gets weight ``0.5 / num_pos`` and each negative
    ``0.5 * neg_weight / num_neg`` (counts over the whole batch), weights are
    renormalised to sum to 1, and the weighted binary cross-entropy is summed
    (the form of the public PyTorch SiamFC).

    Args:
        neg_weight (float): relative weight of the negatives. Defaults to 1.
        loss_weight (float): multiplier of the loss. Defaults to 1.
    """

    def __init__(self, neg_weight: float = 1.0, loss_weight: float = 1.0):
        super().__init__()
        self.neg_weight = neg_weight
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """
        Args:
            logits: (B, 1, R, R) raw scores.
            labels: (B, 1, R, R) in {0, 1}.

        Returns:
            torch.Tensor: scalar loss.
        """
        if logits.shape != labels.shape:
            raise ValueError(f'logits {tuple(logits.shape)} and labels '
                             f'{tuple(labels.shape)} differ in shape')
        pos = labels > 0.5
        num_pos = pos.sum().clamp(min=1).to(logits.dtype)
        num_neg = (~pos).sum().clamp(min=1).to(logits.dtype)
        weight = torch.where(pos, 1.0 / num_pos, self.neg_weight / num_neg)
        weight = weight / weight.sum()
        loss = F.binary_cross_entropy_with_logits(
            logits, labels.to(logits.dtype), weight=weight, reduction='sum')
        return self.loss_weight * loss

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(neg_weight={self.neg_weight}, '
                f'loss_weight={self.loss_weight})')
