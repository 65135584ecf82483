"""Putting objects onto backgrounds.

Two ways, for the two kinds of demo data:

* :func:`render_sprite` / :func:`composite` (action clips): a textured object
  with a soft silhouette, placed at sub-pixel positions, sizes and angles by
  an affine warp of the region it covers, with motion blur (the object is
  rendered at several instants of the shutter interval and averaged) and a
  soft drop shadow.
* :func:`paste_box` (tracking): an opaque textured rectangle at an integer
  box, so the ground-truth box is exactly the set of pixels it covers.

All images are float32 RGB in [0, 255], shape (S, S, 3).
"""
from dataclasses import dataclass
from typing import Callable, List, Tuple

import cv2
import numpy as np

__all__ = ['Sprite', 'Layer', 'render_sprite', 'composite', 'paste_box']


@dataclass
class Sprite:
    """A textured object and how it moves.

    Attributes:
        rgba (np.ndarray): (h, w, 4) float32, premultiplied RGB + alpha.
        width, height (float): on-screen size at motion scale 1 (pixels).
        motion (callable): t -> (cx, cy, scale, angle), see
            ``trajectories``.
    """
    rgba: np.ndarray
    width: float
    height: float
    motion: Callable[[float], Tuple[float, float, float, float]]

    @classmethod
    def from_texture(cls, texture: np.ndarray, alpha: np.ndarray, width: float,
                     height: float, motion) -> 'Sprite':
        """Build from an RGB texture (h, w, 3) and a mask; resizes the mask."""
        h, w = texture.shape[:2]
        if alpha.shape != (h, w):
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        rgba = np.dstack([texture * alpha[..., None],
                          alpha]).astype(np.float32)
        return cls(rgba, width, height, motion)


@dataclass
class Layer:
    """A rendered sprite: premultiplied RGBA (h, w, 4) whose top-left pixel
    sits at column ``x``, row ``y`` of the frame (only the covered region is
    stored; ``rgba`` may be empty)."""
    x: int
    y: int
    rgba: np.ndarray


def render_sprite(sprite: Sprite,
                  t: float,
                  size: int,
                  exposure: float = 0.0,
                  samples: int = 1) -> Layer:
    """Render one sprite at time ``t`` into an (S, S) frame.

    The layer is the average of ``samples`` renderings at instants spread over
    ``[t - exposure, t]`` (a box shutter), which blurs it along its motion.
    """
    times = [t] if samples <= 1 or exposure <= 0 else \
        np.linspace(t - exposure, t, samples)
    h, w = sprite.rgba.shape[:2]
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    matrices = []
    for ti in times:
        cx, cy, scale, angle = sprite.motion(float(ti))
        cos, sin = np.cos(angle), np.sin(angle)
        linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag(
            [sprite.width * scale / w, sprite.height * scale / h])
        # texture pixel centres (0..w-1) map so the texture is centred on
        # (cx, cy) in continuous coordinates (pixel k spans [k, k + 1))
        shift = np.array([cx, cy]) - 0.5 - linear @ centre
        matrices.append(np.hstack([linear, shift[:, None]]))
    # region covered by any instant (texture corners, one pixel margin)
    corners = np.array([[-0.5, w - 0.5, -0.5, w - 0.5],
                        [-0.5, -0.5, h - 0.5, h - 0.5], [1, 1, 1, 1]])
    ends = np.concatenate([m @ corners for m in matrices], axis=1)
    x0, y0 = np.clip(np.floor(ends.min(1)).astype(int) - 1, 0, size)
    x1, y1 = np.clip(np.ceil(ends.max(1)).astype(int) + 2, 0, size)
    if x1 <= x0 or y1 <= y0:
        return Layer(0, 0, np.zeros((0, 0, 4), np.float32))
    acc = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
    for matrix in matrices:
        matrix = matrix - np.array([[0, 0, x0], [0, 0, y0]])
        acc += cv2.warpAffine(
            sprite.rgba,
            matrix, (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0)
    return Layer(int(x0), int(y0), acc / len(matrices))


def composite(background: np.ndarray,
              layers: List[Layer],
              shadow_offset: int = 0,
              shadow_strength: float = 0.45) -> np.ndarray:
    """Alpha-composite layers (back to front) over a background.

    Each layer also casts a blurred shadow onto the background, shifted by
    ``shadow_offset`` pixels down and right.

    Args:
        background (np.ndarray): (S, S, 3) float32; not modified.
        layers (list[Layer]): back to front.

    Returns:
        np.ndarray: (S, S, 3) float32.
    """
    out = background.copy()
    size_y, size_x = out.shape[:2]
    if shadow_offset > 0 and shadow_strength > 0:
        shade = np.zeros((size_y, size_x), np.float32)
        for layer in layers:
            h, w = layer.rgba.shape[:2]
            x, y = layer.x + shadow_offset, layer.y + shadow_offset
            w, h = min(w, size_x - x), min(h, size_y - y)
            if w > 0 and h > 0:
                region = shade[y:y + h, x:x + w]
                np.maximum(region, layer.rgba[:h, :w, 3], out=region)
        k = 2 * shadow_offset + 1
        shade = cv2.GaussianBlur(shade, (k, k), 0)
        out *= (1.0 - shadow_strength * shade)[..., None]
    for layer in layers:
        h, w = layer.rgba.shape[:2]
        region = out[layer.y:layer.y + h, layer.x:layer.x + w]
        region *= 1.0 - layer.rgba[..., 3:]
        region += layer.rgba[..., :3]
    return out


def paste_box(canvas: np.ndarray, texture: np.ndarray,
              box: Tuple[int, int, int, int]) -> np.ndarray:
    """Paste ``texture`` resized to fill the integer box (x, y, w, h) exactly.

    The box must lie inside the canvas. Writes into ``canvas`` and returns it.
    """
    x, y, w, h = (int(v) for v in box)
    height, width = canvas.shape[:2]
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f'box {box} does not lie inside a {width}x{height} '
                         'image')
    src_h, src_w = texture.shape[:2]
    interp = cv2.INTER_AREA if w * h < src_w * src_h else cv2.INTER_LINEAR
    canvas[y:y + h, x:x + w] = cv2.resize(
        texture, (w, h), interpolation=interp)
    return canvas
