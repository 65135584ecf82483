"""Transforms that turn a sampled frame pair into SiamFC training crops."""
from typing import Dict

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmaction.registry import TRANSFORMS
from ..utils.crop import context_size, crop_and_resize, xywh_to_center

__all__ = ['read_rgb', 'LoadSOTPairImages', 'SiamFCPairCrop',
           'PackSiamFCInputs']


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; clear error if unreadable."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'cannot read image file: {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@TRANSFORMS.register_module()
class LoadSOTPairImages(BaseTransform):
    """Read the two frames of a pair.

    Required keys: ``template_path``, ``search_path``.
    Added keys: ``template_img``, ``search_img`` ((H, W, 3) uint8 RGB).
    """

    def transform(self, results: Dict) -> Dict:
        results['template_img'] = read_rgb(results['template_path'])
        results['search_img'] = read_rgb(results['search_path'])
        return results


@TRANSFORMS.register_module()
class SiamFCPairCrop(BaseTransform):
    """Crop exemplar and search regions around the target, SiamFC style.

    Each frame is cropped around its own box with context
    (``sqrt((w+p)(h+p))``, ``p = context_amount * (w + h)``), so the target
    has about the same size in both crops; the search crop covers
    ``search_size / exemplar_size`` times more. Augmentation: a random
    stretch of each crop size by up to ``max_stretch`` and a random shift of
    the search crop by up to ``max_shift`` output pixels (the label map
    follows the shift). Out-of-image areas are filled with the frame's mean
    colour.

    Required keys: ``template_img``, ``template_bbox``, ``search_img``,
    ``search_bbox`` (boxes ``(x, y, w, h)``, 1-based).
    Added keys: ``template`` (Z, Z, 3), ``search`` (X, X, 3) uint8,
    ``target_offset`` (2,) float32 ``(dx, dy)``: target centre minus search
    crop centre, in search-crop pixels.

    Args:
        exemplar_size (int): Z. search_size (int): X.
        context_amount (float): SiamFC context. Defaults to 0.5.
        max_stretch (float): relative size jitter. Defaults to 0.05.
        max_shift (float): search crop shift in output pixels. Defaults to 8.
        template_context (str): ``'exemplar'`` (classic: the template is the
            exemplar region at ``exemplar_size``) or ``'search'`` (the
            template is the search-sized region around the template target
            at ``search_size``, unshifted; match the tracker's
            ``test_cfg.template_context``).
    """

    def __init__(self,
                 exemplar_size: int = 127,
                 search_size: int = 255,
                 context_amount: float = 0.5,
                 max_stretch: float = 0.05,
                 max_shift: float = 8.0,
                 template_context: str = 'exemplar'):
        if template_context not in ('exemplar', 'search'):
            raise ValueError("template_context must be 'exemplar' or "
                             f"'search', got {template_context!r}")
        self.template_context = template_context
        if search_size < exemplar_size:
            raise ValueError(f'search_size {search_size} < exemplar_size '
                             f'{exemplar_size}')
        self.exemplar_size = exemplar_size
        self.search_size = search_size
        self.context_amount = context_amount
        self.max_stretch = max_stretch
        self.max_shift = max_shift

    def _stretch(self) -> float:
        return 1.0 + np.random.uniform(-self.max_stretch, self.max_stretch)

    def transform(self, results: Dict) -> Dict:
        z_img, x_img = results['template_img'], results['search_img']
        z_center, z_size = xywh_to_center(results['template_bbox'])
        x_center, x_size = xywh_to_center(results['search_bbox'])
        z_sz = context_size(z_size, self.context_amount) * self._stretch()
        z_out = self.exemplar_size
        if self.template_context == 'search':
            z_sz, z_out = z_sz * self.search_size / self.exemplar_size, \
                self.search_size
        results['template'] = crop_and_resize(
            z_img, z_center, z_sz, z_out, z_img.reshape(-1, 3).mean(axis=0))
        x_sz = context_size(x_size, self.context_amount) * \
            self.search_size / self.exemplar_size * self._stretch()
        shift = np.random.uniform(-self.max_shift, self.max_shift, size=2)
        crop_center = x_center - shift * x_sz / self.search_size
        results['search'] = crop_and_resize(
            x_img, crop_center, x_sz, self.search_size,
            x_img.reshape(-1, 3).mean(axis=0))
        results['target_offset'] = shift.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(exemplar_size='
                f'{self.exemplar_size}, search_size={self.search_size}, '
                f'context_amount={self.context_amount}, max_stretch='
                f'{self.max_stretch}, max_shift={self.max_shift}, '
                f'template_context={self.template_context!r})')


@TRANSFORMS.register_module()
class PackSiamFCInputs(BaseTransform):
    """Pack crops for :class:`SiamFCDataPreprocessor`.

    Required keys: ``template``, ``search``, ``target_offset``.
    Added keys: ``inputs`` = dict(template (3, Z, Z), search (3, X, X) uint8
    tensors), ``data_samples`` = dict(target_offset (2,) float32 tensor).
    """

    def transform(self, results: Dict) -> Dict:
        def chw(img):
            return torch.from_numpy(np.ascontiguousarray(
                img.transpose(2, 0, 1)))

        return dict(
            inputs=dict(
                template=chw(results['template']),
                search=chw(results['search'])),
            data_samples=dict(
                target_offset=torch.from_numpy(
                    np.asarray(results['target_offset'], np.float32))))
