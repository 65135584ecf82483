"""Split ("ghost") BatchNorm: emulate G devices' BN inside one process.

MoCo's shuffling BN needs several processes: each normalises its own slice
of the batch, and keys are shuffled across processes so that a query and
its positive keys are never normalised with the statistics of the same
samples. With one process, MoCo's own single-GPU demo emulates G devices
with ``SplitBatchNorm``: in train mode the batch is cut into G groups, each
normalised with its own statistics; the running statistics are the average
of the groups' updates. seco-mm does the same, written here because neither
mmengine nor mmaction2 has a grouped BatchNorm.

:func:`convert_split_bn` changes the class of every plain ``BatchNorm1d`` /
``BatchNorm2d`` in place, so parameters, buffers and state-dict key names
are unchanged (an export still loads into a stock mmaction2 ``ResNet``).
Group membership: sample ``n`` of a batch of ``N`` is in group ``n % G``
(the layout of MoCo's ``view(-1, C * G, ...)``).
"""
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['SplitBatchNorm1d', 'SplitBatchNorm2d', 'convert_split_bn',
           'split_bn_modules', 'set_split_bn_groups']


class _SplitBatchNorm:
    """Mixin: train-mode BN over ``num_splits`` interleaved groups.

    ``num_splits`` is a plain attribute (not a buffer, so the state dict is
    that of the BatchNorm class it replaces); 1 behaves exactly as the
    parent class.
    """

    num_splits: int = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = self.num_splits
        if groups <= 1 or not self.training:
            return super().forward(x)
        n, c = x.shape[:2]
        if n % groups:
            raise ValueError(f'split BN: batch {n} is not divisible by '
                             f'{groups} groups')
        # (N, C, ...) -> (N/G, G*C, ...): channel block g holds the samples
        # n with n % G == g, so one batch_norm call normalises each group
        # with its own statistics.
        grouped = x.reshape(n // groups, groups * c, *x.shape[2:])
        if self.track_running_stats:
            mean = self.running_mean.repeat(groups)
            var = self.running_var.repeat(groups)
            self.num_batches_tracked.add_(1)
        else:
            mean = var = None
        momentum = self.momentum
        if momentum is None:  # cumulative average, as nn.BatchNorm
            momentum = 1.0 / float(self.num_batches_tracked)
        weight = self.weight.repeat(groups) if self.affine else None
        bias = self.bias.repeat(groups) if self.affine else None
        out = F.batch_norm(grouped, mean, var, weight, bias, True, momentum,
                           self.eps)
        if self.track_running_stats:
            with torch.no_grad():  # running stats: mean of the groups'
                self.running_mean.copy_(mean.view(groups, c).mean(0))
                self.running_var.copy_(var.view(groups, c).mean(0))
        return out.reshape(x.shape)


class SplitBatchNorm1d(_SplitBatchNorm, nn.BatchNorm1d):
    """``BatchNorm1d`` over ``num_splits`` groups in train mode."""


class SplitBatchNorm2d(_SplitBatchNorm, nn.BatchNorm2d):
    """``BatchNorm2d`` over ``num_splits`` groups in train mode."""


_SPLIT_CLASS = {nn.BatchNorm1d: SplitBatchNorm1d,
                nn.BatchNorm2d: SplitBatchNorm2d}


def convert_split_bn(module: nn.Module) -> int:
    """Turn every plain BatchNorm1d/2d of ``module`` into its split class.

    In place (class swap: same parameters, buffers and key names); SyncBN
    and other subclasses are left alone. ``num_splits`` starts at 1.

    Returns:
        int: the number of layers converted.
    """
    count = 0
    for m in module.modules():
        cls = _SPLIT_CLASS.get(type(m))
        if cls is not None:
            m.__class__ = cls
            m.num_splits = 1
            count += 1
    return count


def split_bn_modules(module: nn.Module) -> Iterator[_SplitBatchNorm]:
    """The split BN layers of ``module``."""
    return (m for m in module.modules() if isinstance(m, _SplitBatchNorm))


def set_split_bn_groups(module: nn.Module, groups: int) -> None:
    """Set the number of BN groups of every split BN layer in ``module``."""
    for m in split_bn_modules(module):
        m.num_splits = groups
