"""Mixed-precision training on CPU (bfloat16) and CUDA (float16 / bfloat16).

``tools/train.py --amp`` and ``optim_wrapper = dict(type=
'MixedPrecisionOptimWrapper', ...)`` in a config select it, for SeCo
pretraining and the downstream recognizers alike (it only wraps the
optimizer step and the forward pass; the model is unchanged).
"""
from contextlib import contextmanager
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmaction.registry import OPTIM_WRAPPERS
from mmengine.optim import AmpOptimWrapper, OptimWrapper

__all__ = ['MixedPrecisionOptimWrapper', 'resolve_precision',
           'mixed_precision']

_DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}


def resolve_precision(device_type: str,
                      dtype: Union[str, torch.dtype] = 'auto',
                      loss_scale='auto') -> Tuple[torch.dtype, object]:
    """Choose the autocast dtype and the loss scaling for a device.

    Args:
        device_type: ``'cpu'`` or ``'cuda'``.
        dtype: ``'auto'`` (bfloat16 on CPU, float16 on CUDA),
            ``'bfloat16'``, ``'float16'`` or a ``torch.dtype``.
        loss_scale: ``'auto'`` (dynamic scaling for float16, none for
            bfloat16, whose exponent range is float32's), ``'dynamic'``, a
            float (static scale), a dict of ``GradScaler`` arguments, or
            ``None`` (no scaling).
    Returns:
        ``(dtype, loss_scale)`` where ``loss_scale`` is ``None`` (no
        scaler) or a value for mmengine's ``AmpOptimWrapper(loss_scale=)``.
    Raises:
        ValueError: naming ``optim_wrapper.dtype`` / ``loss_scale`` for
        values that cannot work on the device.
    """
    if device_type not in ('cpu', 'cuda'):
        raise ValueError('MixedPrecisionOptimWrapper supports cpu and cuda '
                         f'parameters, got {device_type!r}')
    if isinstance(dtype, str):
        if dtype == 'auto':
            dtype = torch.bfloat16 if device_type == 'cpu' else torch.float16
        elif dtype in _DTYPES:
            dtype = _DTYPES[dtype]
        else:
            raise ValueError("optim_wrapper.dtype must be 'auto', 'bfloat16' "
                             f"or 'float16', got {dtype!r}")
    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError('optim_wrapper.dtype must be bfloat16 or float16, '
                         f'got {dtype!r}')
    if device_type == 'cpu':
        if dtype != torch.bfloat16:
            raise ValueError('optim_wrapper.dtype: CPU autocast trains in '
                             f'bfloat16 only, got {dtype}')
        if loss_scale not in ('auto', None):
            raise ValueError('optim_wrapper.loss_scale: bfloat16 on CPU '
                             "needs no loss scaling; use 'auto' or None, got "
                             f'{loss_scale!r}')
        return dtype, None
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise ValueError("optim_wrapper.dtype='bfloat16': this CUDA device "
                         "does not support bfloat16; use 'float16'")
    if loss_scale == 'auto':
        loss_scale = 'dynamic' if dtype == torch.float16 else None
    return dtype, loss_scale


def _params_device_type(optimizer: torch.optim.Optimizer) -> str:
    for group in optimizer.param_groups:
        for p in group['params']:
            return p.device.type
    return 'cpu'


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(AmpOptimWrapper):
    """Autocast the forward pass; scale the loss where the dtype needs it.

    - CUDA: mmengine's :class:`AmpOptimWrapper` as it is (``GradScaler``
      with dynamic loss scaling for float16; bfloat16 where the device
      supports it, then without scaler), with the dtype chosen by
      :func:`resolve_precision`.
    - CPU: ``torch.autocast('cpu', torch.bfloat16)`` around the forward
      pass, no loss scaler (bfloat16 has float32's exponent range, so
      gradients do not underflow), plain ``backward``/``step``. mmengine's
      ``AmpOptimWrapper`` refuses to be built without an accelerator
      (it asserts CUDA/NPU/MLU/MUSA and always creates a CUDA
      ``GradScaler``), which is why this class exists.

    Parameters stay float32 (autocast casts per op); the loss heads of
    seco_mm run in float32 inside the region (``float32_loss``) and SeCo's
    queue is a float32 buffer.

    Args:
        dtype (str | torch.dtype): ``'auto'`` (bfloat16 on CPU, float16 on
            CUDA), ``'bfloat16'`` or ``'float16'``.
        loss_scale: ``'auto'``, ``'dynamic'``, float, dict or ``None``; see
            :func:`resolve_precision`.
        device (str, optional): ``'cpu'`` or ``'cuda'``; default: the device
            of the optimizer's first parameter (mmengine's Runner moves the
            model to its device before it builds the optimizer).
        **kwargs: :class:`OptimWrapper` arguments (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).

    The checkpointed state is the optimizer's, plus ``loss_scaler`` when a
    scaler is used; a checkpoint from a CUDA float16 run resumes on CPU
    (its scaler state is dropped) and the other way round (a new scaler).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'auto',
                 loss_scale='auto', device: Optional[str] = None, **kwargs):
        if 'optimizer' not in kwargs:
            raise TypeError('MixedPrecisionOptimWrapper needs an optimizer')
        device_type = device or _params_device_type(kwargs['optimizer'])
        cast_dtype, scale = resolve_precision(device_type, dtype, loss_scale)
        if scale is None:
            # No GradScaler: skip AmpOptimWrapper.__init__, which asserts
            # an accelerator and always builds a CUDA GradScaler.
            OptimWrapper.__init__(self, **kwargs)
            self._scale_update_param = None
            self.loss_scaler = None
        else:
            super().__init__(loss_scale=scale, dtype=cast_dtype, **kwargs)
        self.cast_dtype = cast_dtype
        self.device_type = device_type

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.loss_scaler is None:
            return OptimWrapper.backward(self, loss, **kwargs)
        return super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            return OptimWrapper.step(self, **kwargs)
        return super().step(**kwargs)

    def state_dict(self) -> dict:
        if self.loss_scaler is None:
            return OptimWrapper.state_dict(self)
        return super().state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        if self.loss_scaler is None:
            state_dict = dict(state_dict)
            state_dict.pop('loss_scaler', None)
            state_dict.pop('base_param_settings', None)
            return OptimWrapper.load_state_dict(self, state_dict)
        return super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of ``OptimWrapper`` + autocast on
        this wrapper's device (not mmengine's guess of the current one)."""
        with OptimWrapper.optim_context(self, model), torch.autocast(
                device_type=self.device_type, dtype=self.cast_dtype):
            yield

    def __repr__(self) -> str:
        scaler = 'none' if self.loss_scaler is None else 'GradScaler'
        return (f'{type(self).__name__}(device={self.device_type}, '
                f'dtype={self.cast_dtype}, loss_scaler={scaler})\n'
                + super().__repr__())


@contextmanager
def mixed_precision(device: Union[str, torch.device], enabled: bool = True,
                    dtype: Union[str, torch.dtype] = 'auto'):
    """Autocast for inference (feature extraction, evaluation) with the same
    dtype choice as training: bfloat16 on CPU, float16 on CUDA by default.

    Example::

        with torch.no_grad(), mixed_precision('cpu'):
            feats = model.extract_feat(x)   # bfloat16 activations
        feats = feats.float()
    """
    device_type = torch.device(device).type
    if not enabled:
        yield
        return
    cast_dtype, _ = resolve_precision(device_type, dtype)
    with torch.autocast(device_type=device_type, dtype=cast_dtype):
        yield
