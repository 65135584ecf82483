"""SeCo's three projection heads on the pooled backbone feature (Sec. 3.3)."""
from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseModule

__all__ = ['SeCoProjector']


@MODELS.register_module()
class SeCoProjector(BaseModule):
    """Global average pooling, then one MLP per SeCo task, L2-normalised.

    Each projection is ``Linear(in, hid) - ReLU - Linear(hid, out)``, as the
    paper's (and MoCo v2's) head. ``hidden_norm=True`` inserts a BatchNorm1d
    before the ReLU (MoCo v3 / SimCLR practice, not the paper's head): it
    removes the common component of the post-ReLU pooled features, which
    otherwise makes every embedding start almost parallel and keeps short
    runs on MoCo's initial plateau (loss_inter ~ log(1 + K)).

    Args:
        in_channels (int): backbone channels C (2048 for R50, 512 for R18).
        hid_channels (int): hidden width (2048 in the paper).
        out_channels (int): embedding size D (128).
        names (Sequence[str]): one projection per name.
        hidden_norm (bool): BatchNorm1d on the hidden layer. Default False
            (the paper).

    Forward:
        x: (N, C, h, w) feature map, or (N, C) pooled features.
        returns: dict name -> (N, D) unit-norm embeddings.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 hid_channels: int = 2048,
                 out_channels: int = 128,
                 names: Sequence[str] = ('inter', 'intra', 'order'),
                 hidden_norm: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.out_channels = out_channels  # D: SeCo reads its feat_dim here

        def projector():
            hidden = [nn.Linear(in_channels, hid_channels)]
            if hidden_norm:
                hidden.append(nn.BatchNorm1d(hid_channels))
            return nn.Sequential(*hidden, nn.ReLU(inplace=True),
                                 nn.Linear(hid_channels, out_channels))

        self.projectors = nn.ModuleDict({name: projector() for name in names})

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, C) by global average pooling."""
        return x.mean(dim=(2, 3)) if x.dim() == 4 else x

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        feat = self.pool(x)
        return {name: F.normalize(proj(feat), dim=1)
                for name, proj in self.projectors.items()}
