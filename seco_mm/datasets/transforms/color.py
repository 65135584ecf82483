"""Photometric augmentations of MoCo v2 that mmaction2 lacks in this form.

mmaction2's ``ColorJitter`` always applies and fixes its op order at
construction; MoCo v2 applies jitter with probability 0.8 in a fresh random
order per call. All transforms here read and write ``results['imgs']``, a list
of (H, W, 3) uint8 RGB frames, and draw their random values once per call (the
same for every frame in the list, as a per-view augmentation should).

Probability gates: configs gate these transforms with mmcv's ``RandomApply``
(``dict(type='RandomApply', prob=0.8, transforms=[dict(type=
'RandomColorJitter', prob=1.0)])``). The ``prob`` argument stays for configs
written before; ``prob=1.0`` applies without drawing a number, so the
``RandomApply`` form draws exactly the numbers the ``prob=p`` form draws (one
``np.random.rand()`` for the gate, then the transform's own) and gives the same
output under the same seed (tests/datasets/test_views_and_packing.py).
"""
import cv2
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

__all__ = ['RandomColorJitter', 'RandomGrayscale', 'RandomGaussianBlur']

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _gray(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 -> (H, W, 1) float32 luma."""
    return (img @ _LUMA)[..., None]


def _check_prob(prob):
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f'prob must be in [0, 1], got {prob}')
    return prob


def _gate(prob: float) -> bool:
    """``RandomApply``'s draw (``rand() < prob``), skipped at ``prob=1``."""
    return prob >= 1.0 or np.random.rand() < prob


@TRANSFORMS.register_module()
class RandomColorJitter(BaseTransform):
    """Brightness, contrast, saturation and hue jitter in random order.

    Required keys: imgs. Modified keys: imgs.

    Args:
        brightness, contrast, saturation (float): factor drawn from
            ``[max(0, 1 - x), 1 + x]``.
        hue (float): shift drawn from ``[-hue, hue]`` of a full turn,
            ``0 <= hue <= 0.5``.
        prob (float): probability of applying the jitter. Defaults to 0.8;
            use 1.0 inside ``RandomApply`` (module docstring).
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
                 prob=0.8):
        for name, val in dict(brightness=brightness, contrast=contrast,
                              saturation=saturation).items():
            if val < 0:
                raise ValueError(f'{name} must be >= 0, got {val}')
        if not 0 <= hue <= 0.5:
            raise ValueError(f'hue must be in [0, 0.5], got {hue}')
        self.brightness, self.contrast = brightness, contrast
        self.saturation, self.hue = saturation, hue
        self.prob = _check_prob(prob)

    @staticmethod
    def _factor(x):
        return np.random.uniform(max(0.0, 1 - x), 1 + x)

    def _jitter(self, img: np.ndarray, ops) -> np.ndarray:
        # The same formulas on one float32 buffer, using OpenCV kernels
        # (about 3x faster than numpy temporaries, benchmarks/
        # bench_augment.py): brightness x f; contrast x f + (1 - f)
        # mean(luma); saturation x f + (1 - f) luma; hue: rotate H of HSV.
        # Clipped to [0, 255] after each op, as before.
        out = img.astype(np.float32)
        for op, f in ops:
            if op == 'brightness':
                out *= f
            elif op == 'contrast':
                mean = float(np.dot(cv2.mean(out)[:3], _LUMA))
                out *= f
                out += (1 - f) * mean
            elif op == 'saturation':
                gray = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY),
                                    cv2.COLOR_GRAY2RGB)
                out = cv2.addWeighted(out, f, gray, 1 - f, 0.0)
            else:  # hue: rotate H (degrees) of an HSV float image
                out /= 255.0
                # shift by (f * 360) mod 360 >= 0: H stays in [0, 720), which
                # OpenCV's HSV->RGB wraps exactly (it mishandles H < 0)
                hsv = cv2.add(cv2.cvtColor(out, cv2.COLOR_RGB2HSV),
                              ((f * 360.0) % 360.0, 0.0, 0.0, 0.0))
                out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
                out *= 255.0
            np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)

    def transform(self, results: dict) -> dict:
        if not _gate(self.prob):
            return results
        ops = [('brightness', self._factor(self.brightness)),
               ('contrast', self._factor(self.contrast)),
               ('saturation', self._factor(self.saturation)),
               ('hue', np.random.uniform(-self.hue, self.hue))]
        ops = [ops[i] for i in np.random.permutation(4)]
        results['imgs'] = [self._jitter(img, ops) for img in results['imgs']]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, '
                f'hue={self.hue}, prob={self.prob})')


@TRANSFORMS.register_module()
class RandomGrayscale(BaseTransform):
    """Replace RGB by its luma (replicated to 3 channels) with ``prob``.

    mmcv's ``RandomGrayscale`` works on one BGR ``img``; this one on the
    RGB ``imgs`` list with the luma weights of torchvision's grayscale.
    ``prob`` as in the module docstring. Required keys: imgs. Modified keys:
    imgs.
    """

    def __init__(self, prob=0.2):
        self.prob = _check_prob(prob)

    def transform(self, results: dict) -> dict:
        if _gate(self.prob):
            results['imgs'] = [
                np.repeat(_gray(img.astype(np.float32)).round().clip(0, 255)
                          .astype(np.uint8), 3, axis=2)
                for img in results['imgs']
            ]
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """Gaussian blur with sigma drawn from ``sigma_range``, with ``prob``.

    ``prob`` as in the module docstring. Required keys: imgs. Modified keys:
    imgs.
    """

    def __init__(self, sigma_range=(0.1, 2.0), prob=0.5):
        if not 0 < sigma_range[0] <= sigma_range[1]:
            raise ValueError(f'sigma_range must be 0 < lo <= hi, got '
                             f'{sigma_range}')
        self.sigma_range = tuple(sigma_range)
        self.prob = _check_prob(prob)

    def transform(self, results: dict) -> dict:
        if _gate(self.prob):
            sigma = np.random.uniform(*self.sigma_range)
            results['imgs'] = [
                cv2.GaussianBlur(img, (0, 0), sigmaX=sigma)
                for img in results['imgs']
            ]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(sigma_range={self.sigma_range}, '
                f'prob={self.prob})')
