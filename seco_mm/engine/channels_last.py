"""Channels-last (NHWC / NDHWC) memory format for convolutional models.

oneDNN (CPU) and cuDNN (CUDA, tensor cores) run convolutions, batch norm and
pooling fastest on channels-last activations, most of all in bfloat16 /
float16 (measured on CPU: ResNet's 3x3/2 max-pool is ~10x faster on
channels-last input). A convolution returns a channels-last output when its
weight is channels-last, so converting the weights is enough: every later
layer then sees channels-last activations, whatever layout the data
pipeline produced (SeCo's ``(B, 4, 3, H, W)`` views, mmaction2's
``(N, T, C, H, W)`` clips); no input conversion is needed.
"""
from typing import Dict

import torch
import torch.nn as nn
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

__all__ = ['to_channels_last', 'ChannelsLastHook']


def to_channels_last(model: nn.Module) -> Dict[str, int]:
    """Convert ``model``'s convolution weights to channels-last, in place.

    ``Conv2d`` weights become ``torch.channels_last`` and ``Conv3d`` weights
    ``torch.channels_last_3d``; ``param.data`` is replaced, so the
    ``Parameter`` objects (and an optimizer holding them) stay valid. Values
    are unchanged; calling it twice is harmless. Works for SeCo (query and
    momentum encoders) and any mmaction2 recognizer, and outside a Runner,
    e.g. for feature extraction::

        model = init_recognizer(cfg, ckpt); to_channels_last(model)

    Returns:
        dict: ``conv2d`` and ``conv3d``, the numbers of weights converted.
    """
    counts = dict(conv2d=0, conv3d=0)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fmt, key = torch.channels_last, 'conv2d'
        elif isinstance(module, nn.Conv3d):
            fmt, key = torch.channels_last_3d, 'conv3d'
        else:
            continue
        module.weight.data = module.weight.data.contiguous(memory_format=fmt)
        counts[key] += 1
    return counts


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Train (and validate / test) a model in channels-last memory format.

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
    """

    priority = 'VERY_HIGH'

    def _convert(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        counts = to_channels_last(model)
        if not any(counts.values()):
            runner.logger.warning('ChannelsLastHook: the model has no '
                                  'Conv2d/Conv3d; nothing converted')

    def before_train(self, runner) -> None:
        self._convert(runner)

    def before_val(self, runner) -> None:
        self._convert(runner)

    def before_test(self, runner) -> None:
        self._convert(runner)
