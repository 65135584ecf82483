"""Run a loss head in float32 even inside an autocast region.

Under ``--amp`` (``MixedPrecisionOptimWrapper``) the encoders run in
bfloat16 (CPU) or float16 (CUDA), so the embeddings reaching the heads are
half-precision tensors, and autocast would also run the heads' matmuls in
half precision. The heads are where that hurts and where float32 is cheap:

- logits are cosine similarities divided by T = 0.1, so a bfloat16 rounding
  of the dot product (8-bit mantissa, up to ~0.4 % relative) becomes an
  error of up to ~0.04 on a logit of magnitude 10;
- the InfoNCE ``logsumexp`` sums ``exp`` over all K = 131072 queue keys:
  in float16 the sum would be accumulated with an 11-bit mantissa and
  the exponentials overflow past 65504;
- the order head's 2-way cross-entropy and the accuracies are compared
  against fp32 runs in tests and logs.

The cost is small: the heads see (B, 128) embeddings and one (K, 128)
queue, against the ResNet's millions of activations per sample.

``torch.amp.custom_fwd(cast_inputs=torch.float32)`` does the same job for
``autograd.Function.forward`` but needs the device type fixed when the
decorator is applied; the heads run on whichever device their inputs are
on, so this decorator reads it from the first tensor argument.
"""
import functools

import torch

__all__ = ['float32_loss']


def _to_float32(value):
    if torch.is_tensor(value) and value.is_floating_point():
        return value.float()
    return value


def float32_loss(fn):
    """Decorate a head's ``loss``: float tensor arguments are cast to
    float32 and autocast is disabled inside, so every op of the loss (and
    its backward) runs in float32; gradients flow back through the cast to
    the half-precision embeddings. Integer tensors (labels) are left as
    they are."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        tensors = [a for a in (*args, *kwargs.values()) if torch.is_tensor(a)]
        device_type = tensors[0].device.type if tensors else 'cpu'
        args = tuple(_to_float32(a) for a in args)
        kwargs = {k: _to_float32(v) for k, v in kwargs.items()}
        with torch.autocast(device_type=device_type, enabled=False):
            return fn(self, *args, **kwargs)

    return wrapper
