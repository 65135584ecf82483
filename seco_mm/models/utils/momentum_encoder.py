"""The momentum (key) encoder: an EMA of the query encoder's parameters."""
import torch
import torch.nn as nn
from mmengine.model import BaseAveragedModel

__all__ = ['MomentumEncoder']


class MomentumEncoder(BaseAveragedModel):
    """Parameter-only EMA copy of a module, as SeCo's / MoCo's key encoder.

    ``key = m * key + (1 - m) * query`` for every parameter, where ``m`` is
    the momentum in the paper's convention (0.999: weight of the *old*
    value; mmengine's ``ExponentialMovingAverage`` uses the opposite one).
    Buffers (BN running statistics) are *not* copied from the query encoder:
    the key encoder runs in train mode and keeps its own statistics, as the
    reference implementation does (docs/method.md). mmengine's EMA would
    overwrite them, hence this subclass of its ``BaseAveragedModel`` (which
    provides the deep copy, ``requires_grad_(False)`` and the ``steps``
    buffer that is checkpointed with the model).

    Args:
        model (nn.Module): the query encoder to copy.
    """

    def __init__(self, model: nn.Module):
        super().__init__(model, interval=1, update_buffers=False)

    def avg_func(self, averaged_param, source_param, steps):
        raise NotImplementedError('use update_parameters(model, momentum)')

    @torch.no_grad()
    def update_parameters(self, model: nn.Module,
                          momentum: float = 0.999) -> None:
        """Blend ``model``'s parameters in: ``p_k = m p_k + (1 - m) p_q``."""
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'momentum must be in [0, 1], got {momentum}')
        ema = [p for p in self.module.parameters()]
        src = [p.detach() for p in model.parameters()]
        if len(ema) != len(src):
            raise ValueError('momentum encoder and query encoder differ in '
                             f'parameter count ({len(ema)} vs {len(src)})')
        if momentum < 1.0:
            torch._foreach_lerp_(ema, src, 1.0 - momentum)
        self.steps += 1

    @torch.no_grad()
    def copy_from(self, model: nn.Module) -> None:
        """Make the key encoder an exact copy (parameters and buffers)."""
        self.module.load_state_dict(model.state_dict())
