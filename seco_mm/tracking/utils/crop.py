"""Box conventions and the SiamFC crop (shared by training and tracking).

Boxes enter and leave as OTB ``(x, y, w, h)`` with 1-based pixels; inside,
the tracker works with a 0-based centre ``(cx, cy)`` and size ``(w, h)``:
``cx = x - 1 + (w - 1) / 2`` (the convention of the public SiamFC code).
"""
from typing import Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'xywh_to_center', 'center_to_xywh', 'context_size', 'crop_and_resize'
]


def xywh_to_center(box: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """OTB box -> (centre (2,) 0-based ``(cx, cy)``, size (2,) ``(w, h)``)."""
    x, y, w, h = [float(v) for v in box]
    return (np.array([x - 1 + (w - 1) / 2, y - 1 + (h - 1) / 2]),
            np.array([w, h]))


def center_to_xywh(center: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Inverse of :func:`xywh_to_center`; returns (4,) ``(x, y, w, h)``."""
    w, h = float(size[0]), float(size[1])
    return np.array([center[0] + 1 - (w - 1) / 2,
                     center[1] + 1 - (h - 1) / 2, w, h])


def context_size(size: np.ndarray, context_amount: float) -> float:
    """Side of the exemplar region: ``sqrt((w + p)(h + p))``, ``p = a(w + h)``.

    With ``context_amount`` 0.5 (SiamFC) the margin on each side is a quarter
    of ``w + h``.
    """
    p = context_amount * float(size[0] + size[1])
    return float(np.sqrt((size[0] + p) * (size[1] + p)))


def crop_and_resize(img: np.ndarray, center: Sequence[float],
                    crop_size: float, out_size: int,
                    pad_value: Sequence[float]) -> np.ndarray:
    """Square crop of side ``crop_size`` around ``center``, resized.

    Regions outside the image are filled with ``pad_value`` (the mean colour
    of the first frame, as SiamFC). Sub-pixel exact: output pixel ``u`` maps
    to ``cx + (u - (out_size - 1) / 2) * crop_size / out_size``.

    Args:
        img: (H, W, 3) uint8 image.
        center: ``(cx, cy)`` 0-based.
        crop_size: side in image pixels (> 0).
        out_size: side of the output.
        pad_value: (3,) fill colour.

    Returns:
        np.ndarray: (out_size, out_size, 3) uint8.
    """
    if crop_size <= 0 or not np.isfinite(crop_size):
        raise ValueError(f'crop size must be positive, got {crop_size}')
    scale = out_size / crop_size
    off = (out_size - 1) / 2
    mat = np.array([[scale, 0.0, off - center[0] * scale],
                    [0.0, scale, off - center[1] * scale]])
    return cv2.warpAffine(
        img,
        mat, (out_size, out_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(float(v) for v in pad_value))
