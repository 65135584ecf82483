"""Momentum (EMA) update of SeCo's key encoder after each optimizer step."""
import math
from numbers import Real

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

__all__ = ['SeCoMomentumHook']


@HOOKS.register_module()
class SeCoMomentumHook(Hook):
    """Update the key encoder: ``key = m * key + (1 - m) * query``.

    Runs after every training iteration (after the optimizer step), on the
    unwrapped model, so it is correct under DDP: every process applies the
    same update to its replica of the (DDP-synchronised) query parameters.
    The momentum is a pure function of the iteration, and the EMA weights are
    model buffers/parameters, so a resumed run continues exactly.

    Args:
        momentum (float): m in [0, 1]; 0.999 in the paper.
        cosine (bool): if True, raise m from ``momentum`` to 1.0 over the
            run with a half cosine (BYOL's schedule):
            ``m_t = 1 - (1 - m_0) * (cos(pi * t / T) + 1) / 2``.
    """

    priority = 'NORMAL'

    def __init__(self, momentum: float = 0.999, cosine: bool = False):
        if (isinstance(momentum, bool) or not isinstance(momentum, Real)
                or not 0.0 <= momentum <= 1.0):  # NaN fails the range too
            raise ValueError(f'SeCoMomentumHook.momentum must be in [0, 1], '
                             f'got {momentum!r}')
        self.momentum = momentum
        self.cosine = cosine

    def momentum_at(self, cur_iter: int, max_iters: int) -> float:
        """The momentum used after iteration ``cur_iter`` (0-based)."""
        if not self.cosine:
            return self.momentum
        progress = min(max(cur_iter / max(max_iters, 1), 0.0), 1.0)
        return 1 - (1 - self.momentum) * (math.cos(math.pi * progress) + 1) / 2

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        model.momentum_update(self.momentum_at(runner.iter, runner.max_iters))
