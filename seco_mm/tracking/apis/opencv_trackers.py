"""OpenCV's CSRT and KCF trackers behind the ``init`` / ``track`` interface.

Reference rows for the tracking comparison: classic correlation-filter
trackers that need no training, scored by the same OPE run and metrics as
SiamFC (:func:`run_ope`, :func:`seco_mm.evaluation.sot_metrics.eval_ope`).
They come from ``opencv-contrib-python`` (``cv2.TrackerCSRT_create``,
``cv2.TrackerKCF_create``; the ``cv2.legacy`` versions as a fallback), with
OpenCV's default parameters.
"""
from typing import Tuple

import cv2
import numpy as np

__all__ = ['OPENCV_TRACKERS', 'OpenCVTracker']

OPENCV_TRACKERS = ('CSRT', 'KCF')


def _factory(kind: str):
    name = f'Tracker{kind}_create'
    if hasattr(cv2, name):
        return getattr(cv2, name)
    legacy = getattr(cv2, 'legacy', None)
    if legacy is not None and hasattr(legacy, name):
        return getattr(legacy, name)
    raise RuntimeError(
        f'OpenCV {cv2.__version__} has no {name} (install '
        'opencv-contrib-python, which provides the tracking module)')


class OpenCVTracker:
    """An OpenCV single-object tracker with SiamFC's tracking interface.

    Boxes are OTB ``(x, y, w, h)`` with 1-based pixels (OpenCV's are 0-based
    integers); images are (H, W, 3) uint8 RGB. A frame where OpenCV reports
    a failure yields an empty (all-NaN) box: a failure under mmtracking's
    rules, the previous box under the OTB toolkit's.

    Args:
        kind (str): ``'CSRT'`` or ``'KCF'``.
    """

    def __init__(self, kind: str):
        kind = kind.upper()
        if kind not in OPENCV_TRACKERS:
            raise ValueError(f'OpenCV tracker must be one of '
                             f'{OPENCV_TRACKERS}, got {kind!r}')
        self.kind = kind
        self._create = _factory(kind)
        self._tracker = None
        self.training = False

    # run_ope switches models between train and eval mode
    def train(self, mode: bool = True) -> 'OpenCVTracker':
        return self

    def eval(self) -> 'OpenCVTracker':
        return self

    def init(self, img: np.ndarray, bbox) -> None:
        """Start tracking ``bbox`` (x, y, w, h), 1-based, in ``img`` (RGB)."""
        x, y, w, h = [float(v) for v in bbox]
        if w <= 0 or h <= 0:
            raise ValueError(f'initial box {list(bbox)} has no area')
        self._tracker = self._create()
        rect = (int(round(x - 1)), int(round(y - 1)), max(int(round(w)), 1),
                max(int(round(h)), 1))
        self._tracker.init(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), rect)

    def track(self, img: np.ndarray) -> Tuple[np.ndarray, float]:
        """Box (4,) ``(x, y, w, h)`` (NaN if lost) and a score (1 or 0)."""
        if self._tracker is None:
            raise RuntimeError('call init(img, bbox) before track(img)')
        ok, rect = self._tracker.update(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            return np.full(4, np.nan), 0.0
        x, y, w, h = [float(v) for v in rect]
        return np.array([x + 1, y + 1, w, h]), 1.0
