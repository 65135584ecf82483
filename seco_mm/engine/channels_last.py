"""Channels-last (NHWC / NDHWC) memory format for convolutional models.

oneDNN (CPU) and cuDNN (CUDA, tensor cores) run convolutions, batch norm and
pooling fastest on channels-last activations, most of all in bfloat16 /
float16. A convolution returns a channels-last output when its weight is
channels-last, so converting the weights is enough: every later layer then
sees channels-last activations, whatever layout the data pipeline produced
(SeCo's ``(B, 4, 3, H, W)`` views, mmaction2's ``(N, T, C, H, W)`` clips).

One exception, measured on CPU (torch 2.13, oneDNN, bfloat16): the weight
gradient of a convolution with 3 input channels (the RGB stem) is 5-15x
slower channels-last than NCHW. Convolutions with fewer than
``min_in_channels`` inputs therefore keep NCHW weights, and a forward hook
makes their *output* channels-last, so the rest of the network still runs
channels-last.
"""
from typing import Dict

import torch
import torch.nn as nn
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

__all__ = ['to_channels_last', 'ChannelsLastHook']

_HOOK_ATTR = '_seco_channels_last_hook'


def _format(dim: int):
    return torch.channels_last if dim == 4 else torch.channels_last_3d


def _output_to_channels_last(module, args, output):
    if torch.is_tensor(output) and output.dim() in (4, 5):
        return output.contiguous(memory_format=_format(output.dim()))
    return output


def to_channels_last(model: nn.Module, min_in_channels: int = 4
                     ) -> Dict[str, int]:
    """Convert ``model``'s convolutions to channels-last, in place.

    ``Conv2d`` weights become ``torch.channels_last`` and ``Conv3d`` weights
    ``torch.channels_last_3d`` (``param.data`` is replaced, so the
    ``Parameter`` objects, and an optimizer holding them, stay valid).
    Convolutions with fewer than ``min_in_channels`` input channels keep
    their weights and get a forward hook converting their output instead
    (see the module docstring). Calling it twice is harmless.

    Works for SeCo (query and momentum encoders) and any mmaction2
    recognizer, and outside a Runner (feature extraction)::

        model = init_recognizer(...); to_channels_last(model)

    Returns:
        dict: ``converted`` (weights converted) and ``hooked`` (stem
        convolutions left NCHW with a hooked output).
    """
    converted = hooked = 0
    for module in model.modules():
        if not isinstance(module, (nn.Conv2d, nn.Conv3d)):
            continue
        if module.in_channels < min_in_channels:
            if not hasattr(module, _HOOK_ATTR):
                setattr(module, _HOOK_ATTR, module.register_forward_hook(
                    _output_to_channels_last))
            hooked += 1
            continue
        weight = module.weight
        weight.data = weight.data.contiguous(
            memory_format=_format(weight.dim()))
        converted += 1
    return dict(converted=converted, hooked=hooked)


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Train (and validate) a model in channels-last memory format.

    Add it to a config, for SeCo or a downstream recognizer::

        custom_hooks = [..., dict(type='ChannelsLastHook')]

    ``before_train`` runs after the Runner has initialised the weights and
    loaded a checkpoint, so the conversion covers the final weights; a
    checkpoint written channels-last loads into an NCHW model and back
    (``load_state_dict`` copies values, not layouts). Under DDP the
    gradient buckets were laid out for the NCHW parameters when the
    wrapper was built; DDP copies gradients into them (correct, with a
    one-time stride warning) until it rebuilds its buckets after the first
    iteration.

    Args:
        min_in_channels (int): convolutions with fewer input channels keep
            NCHW weights (see :func:`to_channels_last`).
    """

    priority = 'VERY_HIGH'

    def __init__(self, min_in_channels: int = 4):
        if not isinstance(min_in_channels, int) or min_in_channels < 1:
            raise ValueError('ChannelsLastHook.min_in_channels must be a '
                             f'positive int, got {min_in_channels!r}')
        self.min_in_channels = min_in_channels

    def _convert(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        counts = to_channels_last(model, self.min_in_channels)
        if counts['converted'] + counts['hooked'] == 0:
            runner.logger.warning('ChannelsLastHook: the model has no '
                                  'Conv2d/Conv3d; nothing converted')

    def before_train(self, runner) -> None:
        self._convert(runner)

    def before_val(self, runner) -> None:
        self._convert(runner)

    def before_test(self, runner) -> None:
        self._convert(runner)
