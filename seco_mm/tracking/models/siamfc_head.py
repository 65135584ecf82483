"""SiamFC head: per-branch 1x1 adjust, template centre crop, cross-correlation.

Geometry (used by training labels and by the tracker): for the backbones used
here (mmaction2 ``ResNet``, every conv padded by ``dilation * (k - 1) / 2``)
feature cell ``j`` of a crop is centred on crop pixel ``stride * j``. If the
template feature is cropped to cells ``[a, a + k)``, response cell ``r``
places the template centre at search pixel ``(Z - 1) / 2 + stride * (r - a)``,
so zero displacement is at ``r0 = a + (X - Z) / (2 * stride)`` and cell ``r``
means a displacement of ``stride * (r - r0)`` search-crop pixels.

An exact matcher by construction (``adjust_init='identity'``,
``response_norm='cosine'`` and the tracker's ``template_context='search'``):
the kernel is the central ``k x k`` cells of the *search-sized* crop around
the target, both branches apply the same (identity) adjust, and the response
is the cosine between the kernel and each window. Asked to track the frame it
was initialised on, the window at zero displacement equals the kernel, its
cosine is 1, and by Cauchy-Schwarz no other window can score higher.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmaction.registry import MODELS


ADJUST_INITS = ('kaiming', 'identity')
RESPONSE_NORMS = ('scale', 'bn', 'cosine')


def _adjust_layer(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
        nn.BatchNorm2d(out_channels))


def _identity_init(layer: nn.Sequential) -> None:
    """1x1 conv = ``[I; 0]`` (an isometric embedding of the input channels),
    BN at its fresh state (weight 1, bias 0, running mean 0, var 1): in eval
    mode the layer is ``x / sqrt(1 + eps)`` padded with zero channels."""
    conv, bn = layer
    with torch.no_grad():
        conv.weight.zero_()
        idx = torch.arange(conv.in_channels)
        conv.weight[idx, idx, 0, 0] = 1.0
    bn.reset_parameters()


def cross_correlation(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Correlate each template with its search map (or one with all).

    Args:
        z: (B, C, k, k) or (1, C, k, k) templates.
        x: (B, C, H, W) search features.

    Returns:
        torch.Tensor: (B, 1, H - k + 1, W - k + 1).
    """
    b, c, h, w = x.shape
    if z.size(0) == 1:
        return F.conv2d(x, z)
    if z.size(0) != b:
        raise ValueError(f'{z.size(0)} templates for {b} search maps')
    out = F.conv2d(x.reshape(1, b * c, h, w), z, groups=b)
    return out.reshape(b, 1, out.size(-2), out.size(-1))


def window_norms(z: torch.Tensor, x: torch.Tensor,
                 eps: float = 1e-12) -> torch.Tensor:
    """``|z| * |x_window|`` for every window of :func:`cross_correlation`.

    Args:
        z: (B, C, k, k) or (1, C, k, k) kernels; x: (B, C, H, W).

    Returns:
        torch.Tensor: (B, 1, H - k + 1, W - k + 1), at least ``eps``.
    """
    k_h, k_w = z.shape[-2:]
    energy = F.conv2d(x.pow(2).sum(1, keepdim=True),
                      x.new_ones(1, 1, k_h, k_w))  # (B, 1, R, R)
    z_norm = z.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    return (energy.clamp_min(0).sqrt() * z_norm).clamp_min(eps)


@MODELS.register_module()
class SiamFCHead(BaseModule):
    """Adjust layers + cross-correlation + SiamFC training loss.

    Args:
        in_channels (int): backbone output channels.
        out_channels (int): channels after the 1x1 adjust. Defaults to 256.
        template_crop (int, optional): keep the central ``k x k`` cells of
            the template feature (SiamRPN++ keeps 7 of 15) so its border cells,
            which saw the zero padding, do not enter the correlation. ``None``
            keeps all.
        total_stride (int): backbone output stride. Defaults to 8.
        response_norm (str): ``'scale'``: multiply by ``corr_scale`` (public
            SiamFC, 0.001); ``'bn'``: a learned ``BatchNorm2d(1)`` (original
            SiamFC's adjust); ``'cosine'``: the cosine between the kernel and
            each search window (normalised cross-correlation) times
            ``corr_scale`` (a logit scale, e.g. 10).
        corr_scale (float): fixed scale for ``'scale'`` and ``'cosine'``.
        pos_radius (float): training positives lie within this many search
            pixels of the target centre. Defaults to 16.
        tie_init (bool): initialise the search adjust layer as a copy of the
            template one (both branches compute the same function).
            Defaults to True.
        adjust_init (str): ``'kaiming'`` (PyTorch's default conv init) or
            ``'identity'`` (see :func:`_identity_init`; needs
            ``out_channels >= in_channels``): an untrained head then matches
            the backbone's own features.
        loss (dict): loss config. Defaults to ``BalancedLogisticLoss``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 template_crop: Optional[int] = None,
                 total_stride: int = 8,
                 response_norm: str = 'scale',
                 corr_scale: float = 1e-3,
                 pos_radius: float = 16.0,
                 tie_init: bool = True,
                 adjust_init: str = 'kaiming',
                 loss: dict = dict(type='BalancedLogisticLoss'),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if response_norm not in RESPONSE_NORMS:
            raise ValueError(f'response_norm must be one of {RESPONSE_NORMS}'
                             f', got {response_norm!r}')
        if adjust_init not in ADJUST_INITS:
            raise ValueError(f'adjust_init must be one of {ADJUST_INITS}, '
                             f'got {adjust_init!r}')
        if adjust_init == 'identity' and out_channels < in_channels:
            raise ValueError(
                f"adjust_init='identity' needs out_channels >= in_channels "
                f'(got {out_channels} < {in_channels})')
        self.adjust_template = _adjust_layer(in_channels, out_channels)
        self.adjust_search = _adjust_layer(in_channels, out_channels)
        self.template_crop = template_crop
        self.total_stride = total_stride
        self.response_norm = response_norm
        self.corr_scale = corr_scale
        if response_norm == 'bn':
            self.response_bn = nn.BatchNorm2d(1)
        self.pos_radius = pos_radius
        self.tie_init = tie_init
        self.adjust_init = adjust_init
        self.loss_module = MODELS.build(loss)

    def init_weights(self) -> None:
        super().init_weights()
        if self.adjust_init == 'identity':
            _identity_init(self.adjust_template)
            _identity_init(self.adjust_search)
        elif self.tie_init:
            self.adjust_search.load_state_dict(
                self.adjust_template.state_dict())

    def crop_offset(self, size: int) -> int:
        """First kept cell ``a`` of a template feature of ``size`` cells."""
        k = self.template_crop
        if k is None or k >= size:
            return 0
        if (size - k) % 2:
            raise ValueError(
                f'template_crop={k} cannot be centred in a {size}-cell '
                'template feature (their difference must be even)')
        return (size - k) // 2

    def template_features(self, z_feat: torch.Tensor) -> torch.Tensor:
        """(B, C_in, h, w) backbone template -> (B, C_out, k, k) kernel."""
        a = self.crop_offset(z_feat.size(-1))
        if a:
            k = self.template_crop
            z_feat = z_feat[..., a:a + k, a:a + k]
        return self.adjust_template(z_feat)

    def search_features(self, x_feat: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) backbone search -> (B, C_out, H, W)."""
        return self.adjust_search(x_feat)

    def correlate(self, kernel: torch.Tensor,
                  x_adj: torch.Tensor) -> torch.Tensor:
        """Adjusted features -> (B, 1, R, R) scores (logits)."""
        out = cross_correlation(kernel, x_adj)
        if self.response_norm == 'bn':
            return self.response_bn(out)
        if self.response_norm == 'cosine':
            out = out / window_norms(kernel, x_adj)
        return out * self.corr_scale

    def forward(self, z_feat: torch.Tensor,
                x_feat: torch.Tensor) -> torch.Tensor:
        """Backbone features of template (B or 1) and search (B) -> scores."""
        return self.correlate(
            self.template_features(z_feat), self.search_features(x_feat))

    def response_origin(self, z_cells: int, exemplar_size: int,
                        search_size: int) -> float:
        """Response index ``r0`` of zero displacement (module docstring)."""
        return self.crop_offset(z_cells) + (search_size - exemplar_size) / (
            2.0 * self.total_stride)

    def labels(self, shape: Tuple[int, int], r0: float,
               offsets: torch.Tensor) -> torch.Tensor:
        """Positive cells within ``pos_radius`` px of each target centre.

        Args:
            shape: (R_h, R_w) response size.
            r0: zero-displacement index (both axes).
            offsets: (B, 2) target centre ``(dx, dy)`` relative to the search
                crop centre, in search-crop pixels.

        Returns:
            torch.Tensor: (B, 1, R_h, R_w) float labels in {0, 1}.
        """
        ys = (torch.arange(shape[0], device=offsets.device) - r0) * \
            self.total_stride
        xs = (torch.arange(shape[1], device=offsets.device) - r0) * \
            self.total_stride
        dx = xs[None, None, :] - offsets[:, 0, None, None]
        dy = ys[None, :, None] - offsets[:, 1, None, None]
        pos = dx.pow(2) + dy.pow(2) <= self.pos_radius**2
        return pos.unsqueeze(1).float()

    def loss(self, scores: torch.Tensor, r0: float,
             offsets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Balanced logistic loss plus the peak's centre error (logged).

        Args:
            scores: (B, 1, R, R) logits.
            r0: zero-displacement index.
            offsets: (B, 2) target offsets in search-crop pixels.

        Returns:
            dict: ``loss_cls`` and ``center_err`` (px, mean over the batch,
            at response resolution; not a loss).
        """
        labels = self.labels(scores.shape[-2:], r0, offsets)
        loss = self.loss_module(scores, labels)
        with torch.no_grad():
            b, _, h, w = scores.shape
            peak = scores.reshape(b, -1).argmax(dim=1)
            py = (peak // w).float() - r0
            px = (peak % w).float() - r0
            err = torch.stack([px, py], 1) * self.total_stride - offsets
            center_err = err.norm(dim=1).mean()
        return dict(loss_cls=loss, center_err=center_err)
