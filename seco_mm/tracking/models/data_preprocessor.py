"""Data preprocessor of SiamFC: stack, move to device, normalise."""
from typing import Dict, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor

from mmaction.registry import MODELS


@MODELS.register_module()
class SiamFCDataPreprocessor(BaseDataPreprocessor):
    """Normalise exemplar and search crops with the backbone's mean/std.

    Training batches (from ``PackSiamFCInputs`` and ``pseudo_collate``) are
    ``inputs=dict(template=[(3, Z, Z) uint8] * B, search=[(3, X, X)] * B)``
    and ``data_samples=dict(target_offset=[(2,)] * B)``; they come out as
    ``template`` (B, 3, Z, Z), ``search`` (B, 3, X, X) float normalised and
    ``target_offset`` (B, 2), on the model's device. The tracker calls
    :meth:`normalize` on its own crops.

    Args:
        mean, std (Sequence[float]): per channel, RGB order, 0-255 scale
            (the values the backbone was pretrained with).
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375)):
        super().__init__()
        self.register_buffer('mean',
                             torch.tensor(mean, dtype=torch.float32).view(
                                 1, 3, 1, 1), False)
        self.register_buffer('std',
                             torch.tensor(std, dtype=torch.float32).view(
                                 1, 3, 1, 1), False)

    def normalize(self, imgs: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0-255 (any dtype) -> normalised float32."""
        if imgs.dim() != 4 or imgs.size(1) != 3:
            raise ValueError(f'expected (N, 3, H, W) images, got '
                             f'{tuple(imgs.shape)}')
        imgs = imgs.to(self.device, torch.float32)
        return (imgs - self.mean) / self.std

    @staticmethod
    def _stack(value: Union[torch.Tensor, Sequence[torch.Tensor]],
               key: str) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value
        if not isinstance(value, (list, tuple)) or not value:
            raise TypeError(f'{key}: expected a tensor or a non-empty list '
                            f'of tensors, got {type(value)}')
        return torch.stack(list(value))

    def forward(self, data: dict, training: bool = False) -> Dict:
        inputs = data['inputs']
        out_inputs = {
            k: self.normalize(self._stack(inputs[k], k))
            for k in ('template', 'search')
        }
        samples = data.get('data_samples')
        if isinstance(samples, dict):
            samples = {
                k: self._stack(v, k).to(self.device, torch.float32)
                for k, v in samples.items()
            }
        return dict(inputs=out_inputs, data_samples=samples)
