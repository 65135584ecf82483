"""Shared constructor of the softmax-with-temperature loss heads, and the
argument checks every SeCo head makes."""
import math
from numbers import Real

from mmengine.model import BaseModule

__all__ = ['TemperatureHead', 'check_loss_weight']


def _finite(value) -> bool:
    return (isinstance(value, Real) and not isinstance(value, bool)
            and math.isfinite(value))


def check_loss_weight(key: str, loss_weight) -> None:
    """``loss_weight`` must be a finite number >= 0; the error names
    ``key`` (the head's config key, e.g. ``model.order_head``)."""
    if not (_finite(loss_weight) and loss_weight >= 0):
        raise ValueError(f'{key}.loss_weight must be a finite number >= 0, '
                         f'got {loss_weight!r}')


class TemperatureHead(BaseModule):
    """Holds and checks a softmax temperature T and a loss weight.

    Subclasses set ``config_key``, the key SeCo's config builds them under
    (``model.inter_head``), which the errors name.

    Args:
        temperature (float): softmax temperature T (0.1 in the paper), > 0.
        loss_weight (float): weight of the head's loss, >= 0.
    """

    config_key = 'head'

    def __init__(self, temperature: float = 0.1, loss_weight: float = 1.0):
        super().__init__()
        if not (_finite(temperature) and temperature > 0):
            raise ValueError(f'{self.config_key}.temperature must be a '
                             f'finite number > 0, got {temperature!r}')
        check_loss_weight(self.config_key, loss_weight)
        self.temperature = temperature
        self.loss_weight = loss_weight
