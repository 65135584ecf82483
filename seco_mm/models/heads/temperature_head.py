"""Shared constructor of the softmax-with-temperature loss heads."""
from mmengine.model import BaseModule

__all__ = ['TemperatureHead']


class TemperatureHead(BaseModule):
    """Holds and checks a softmax temperature T and a loss weight.

    Args:
        temperature (float): softmax temperature T (0.1 in the paper), > 0.
        loss_weight (float): weight of the head's loss.
    """

    def __init__(self, temperature: float = 0.1, loss_weight: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.loss_weight = loss_weight
