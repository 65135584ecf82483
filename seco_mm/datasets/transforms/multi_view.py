"""SeCo's four augmented views, or MoCo v2's two (the paper's MoCo v2
augmentation, docs/method.md)."""
from typing import List

from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform, Compose

__all__ = ['SeCoMultiView']


def _build(cfg):
    """Build a transform from mmaction's registry, wrapped ones first.

    Names must resolve to mmaction2's (and this plugin's) transforms
    whatever the default scope: mmcv's wrappers (``RandomApply``) build
    their ``transforms`` from mmcv's registry, where ``RandomGrayscale`` is
    mmcv's own BGR version. Building the wrapped dicts here first avoids that
    (also for nested lists, as ``RandomChoice`` takes).
    """
    if isinstance(cfg, (list, tuple)):
        return [_build(c) for c in cfg]
    if not isinstance(cfg, dict):
        return cfg
    cfg = dict(cfg)
    if 'transforms' in cfg:
        cfg['transforms'] = _build(cfg['transforms'])
    return TRANSFORMS.build(cfg)


@TRANSFORMS.register_module()
class SeCoMultiView(BaseTransform):
    """Augment frames ``[a, b, c]`` into ``[q, k_same, k_b, k_c]``.

    ``q`` and ``k_same`` are two independent augmentations of the query frame
    ``a``; ``k_b`` and ``k_c`` augment the other-half frames. Each view is
    passed alone through ``view_pipeline`` (mmaction2 transforms on a
    one-frame ``imgs`` list), so every view gets its own random draw.

    Given one frame ``[a]`` (``SeCoSampleFrames(one_frame=True)``, MoCo v2
    on frames) it makes the two views ``[q, k_same]`` of it: the model then
    receives (B, 2, 3, h, w) inputs.

    Required keys: imgs (list of 3 (H, W, 3) uint8 frames ``[a, b, c]``, or
    1 frame ``[a]``).
    Modified keys: imgs (list of 4, or 2, (h, w, 3) uint8 views), img_shape.

    Args:
        view_pipeline (list[dict]): per-view augmentation, e.g. the MoCo v2
            recipe: RandomResizedCrop(area_range=(0.2, 1)), Resize,
            RandomColorJitter, RandomGrayscale, RandomGaussianBlur, Flip,
            the three colour steps gated by mmcv's ``RandomApply``.
    """

    def __init__(self, view_pipeline: List[dict]):
        self.view_pipeline = Compose([_build(t) for t in view_pipeline])

    def _augment(self, frame):
        view = dict(imgs=[frame], img_shape=frame.shape[:2],
                    original_shape=frame.shape[:2], modality='RGB')
        return self.view_pipeline(view)['imgs'][0]

    def transform(self, results: dict) -> dict:
        frames = results['imgs']
        if len(frames) not in (1, 3):
            raise ValueError(f'SeCoMultiView expects 3 frames [a, b, c] '
                             f'(SeCo) or 1 frame [a] (MoCo v2 on frames), got '
                             f'{len(frames)}; put SeCoSampleFrames (with '
                             'one_frame=True for one frame) before it')
        # [a, b, c] -> [q, k_same, k_b, k_c]; [a] -> [q, k_same]
        sources = [frames[0], *frames]
        views = [self._augment(f) for f in sources]
        shapes = {v.shape for v in views}
        if len(shapes) != 1:
            raise ValueError(f'view_pipeline must output one fixed size (add a '
                             f'Resize with keep_ratio=False), got {shapes}')
        results['imgs'] = views
        results['img_shape'] = views[0].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(view_pipeline={self.view_pipeline})'
