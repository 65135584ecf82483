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
    paper's (and MoCo v2's) head.

    Args:
        in_channels (int): backbone channels C (2048 for R50, 512 for R18).
        hid_channels (int): hidden width (2048 in the paper).
        out_channels (int): embedding size D (128).
        names (Sequence[str]): one projection per name.

    Forward:
        x: (N, C, h, w) feature map, or (N, C) pooled features.
        returns: dict name -> (N, D) unit-norm embeddings.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 hid_channels: int = 2048,
                 out_channels: int = 128,
                 names: Sequence[str] = ('inter', 'intra', 'order'),
                 init_cfg=dict(type='Normal', layer='Linear', std=0.01)):
        super().__init__(init_cfg=init_cfg)
        self.projectors = nn.ModuleDict({
            name: nn.Sequential(
                nn.Linear(in_channels, hid_channels), nn.ReLU(inplace=True),
                nn.Linear(hid_channels, out_channels))
            for name in names
        })

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, C) by global average pooling."""
        return x.mean(dim=(2, 3)) if x.dim() == 4 else x

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        feat = self.pool(x)
        return {name: F.normalize(proj(feat), dim=1)
                for name, proj in self.projectors.items()}
