"""Single-object tracking sequences with exact ground truth (OTB-100 style).

Four sequences, one per difficulty that OTB-100 tags:

    ScaleChange  target grows to ~2.8x and shrinks back while drifting slowly.
    FastMotion   target moves 9-13 px/frame (at S = 128), turns abruptly and
                 bounces off the image borders.
    Occlusion    target swings left and right behind a static vertical pole
                 half as wide as itself (partial occlusion, at most ~50%).
    Mixed        scale change (x2), fast bouncing motion, a camera pan and a
                 horizontal bar that hides part of the target when it passes.

The target is an opaque rectangle showing an instance of one of the demo's
objects (``objects``: a window of a real photograph), the same kind of object
the labelled clips show. Occluders show neutral real textures;
backgrounds are panning windows onto the real clips (``backgrounds``), drawn
independently of the target. Boxes are integers and the
target is pasted to fill its box exactly, so the box is the ground truth
with no annotation error. The box always lies inside the image; it covers
the whole target even where an occluder hides part of it (OTB convention).
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import numpy as np

from .backgrounds import sample_background
from .compositing import paste_box
from .sources import FramePool
from .objects import object_names, sample_object_texture
from .textures import sample_neutral_texture

__all__ = [
    'SEQUENCE_NAMES', 'TrackingSequence', 'render_sequence'
]

Box = Tuple[int, int, int, int]


@dataclass
class TrackingSequence:
    """A rendered sequence.

    Attributes:
        name (str): sequence name.
        frames (np.ndarray): uint8 (T, S, S, 3) RGB.
        backgrounds (np.ndarray): uint8 (T, S, S, 3), the same scene rendered
            without the target (occluders included).
        boxes (np.ndarray): int64 (T, 4), 0-based (x, y, w, h): the target
            covers columns x .. x+w-1 and rows y .. y+h-1.
        occluders (np.ndarray): int64 (K, 4), the static occluder boxes,
            drawn in front of the target (K = 0 or 1).
    """
    name: str
    frames: np.ndarray
    backgrounds: np.ndarray
    boxes: np.ndarray
    occluders: np.ndarray


def _to_box(cx: float, cy: float, w: float, h: float, size: int) -> Box:
    """Round a centre/size box to integers and shift it inside the image."""
    w = int(np.clip(round(w), 4, size))
    h = int(np.clip(round(h), 4, size))
    x = int(np.clip(round(cx - w / 2), 0, size - w))
    y = int(np.clip(round(cy - h / 2), 0, size - h))
    return x, y, w, h


def _bounce(rng,
            size,
            num_frames,
            w,
            h,
            speed,
            turn_every=(8, 16),
            scales=None) -> List[Box]:
    """Piecewise-straight motion that reflects at the borders.

    ``scales`` (T,) optionally multiplies the box size per frame.
    """
    scales = np.ones(num_frames) if scales is None else scales
    pos = rng.uniform(0.3 * size, 0.7 * size, 2)
    angle = rng.uniform(0, 2 * np.pi)
    next_turn = int(rng.integers(*turn_every))
    boxes = []
    for t in range(num_frames):
        bw, bh = w * scales[t], h * scales[t]
        boxes.append(_to_box(pos[0], pos[1], bw, bh, size))
        if t == next_turn:
            angle += rng.uniform(np.pi / 3, 5 * np.pi / 6) * rng.choice(
                [-1, 1])
            next_turn += int(rng.integers(*turn_every))
        angle += rng.normal(0, np.radians(8))
        step = speed * np.array([np.cos(angle), np.sin(angle)])
        new = pos + step
        # reflect off the borders (the box half-size is the margin)
        half = np.array([bw, bh]) / 2
        for k in range(2):
            if new[k] < half[k] or new[k] > size - half[k]:
                step[k] = -step[k]
                angle = np.arctan2(step[1], step[0])
                new[k] = pos[k] + step[k]
        pos = np.clip(new, half, size - half)
    return boxes


def _aspect_wh(rng, side: float) -> Tuple[float, float]:
    aspect = np.exp(rng.uniform(np.log(0.7), np.log(1.4)))
    return side * np.sqrt(aspect), side / np.sqrt(aspect)


def _scale_change(rng, size, num_frames):
    w, h = _aspect_wh(rng, 0.14 * size)
    ratio = rng.uniform(2.6, 3.0)
    phase = np.linspace(0, 2 * np.pi, num_frames)
    scales = np.exp(np.log(ratio) * (0.5 - 0.5 * np.cos(phase)))
    centre = rng.uniform(0.4 * size, 0.6 * size, 2)
    drift = rng.normal(0, 0.3 * size / 128, 2)
    boxes = [
        _to_box(*(centre + drift * t), w * s, h * s, size)
        for t, s in enumerate(scales)
    ]
    return boxes, []


def _fast_motion(rng, size, num_frames):
    w, h = _aspect_wh(rng, 0.18 * size)
    speed = rng.uniform(0.07, 0.1) * size
    return _bounce(rng, size, num_frames, w, h, speed), []


def _occlusion(rng, size, num_frames):
    w, h = _aspect_wh(rng, 0.22 * size)
    period = rng.uniform(0.5, 0.7) * num_frames
    phase = rng.uniform(0, 2 * np.pi)
    cy0 = rng.uniform(0.35 * size, 0.65 * size)
    boxes = []
    for t in range(num_frames):
        a = 2 * np.pi * t / period + phase
        boxes.append(
            _to_box(0.5 * size + 0.3 * size * np.sin(a),
                    cy0 + 0.05 * size * np.sin(0.5 * a), w, h, size))
    pole_w = max(2, int(round(0.5 * min(b[2] for b in boxes))))
    pole = ((size - pole_w) // 2, 0, pole_w, size)
    return boxes, [pole]


def _mixed(rng, size, num_frames):
    w, h = _aspect_wh(rng, 0.15 * size)
    phase = np.linspace(0, 1.5 * np.pi, num_frames)
    scales = np.exp(np.log(2.0) * np.sin(phase).clip(0)**2)
    speed = rng.uniform(0.04, 0.06) * size
    boxes = _bounce(rng, size, num_frames, w, h, speed, scales=scales)
    bar_h = max(2, int(round(0.4 * min(b[3] for b in boxes))))
    bar = (0, int(0.55 * size), size, bar_h)
    return boxes, [bar]


_LAYOUTS: Dict[str, Callable] = {
    'ScaleChange': _scale_change,
    'FastMotion': _fast_motion,
    'Occlusion': _occlusion,
    'Mixed': _mixed,
}
SEQUENCE_NAMES = tuple(_LAYOUTS)
_PAN = {'ScaleChange': 0.3, 'FastMotion': 0.3, 'Occlusion': 0.0, 'Mixed': 1.2}


def _as_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def render_sequence(pool: FramePool, name: str, rng: np.random.Generator,
                    size: int, num_frames: int) -> TrackingSequence:
    """Draw and render the tracking sequence ``name`` (see the module doc)."""
    if name not in _LAYOUTS:
        raise ValueError(
            f'unknown sequence {name!r}; expected {SEQUENCE_NAMES}')
    boxes, occluders = _LAYOUTS[name](rng, size, num_frames)
    kind = object_names()[int(rng.integers(len(object_names())))]
    target = _as_u8(sample_object_texture(kind, rng))
    occluder_tex = [
        _as_u8(sample_neutral_texture(pool, rng)) for _ in occluders
    ]
    background = sample_background(
        pool, rng, size, num_frames, max_pan=_PAN[name])
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    backgrounds = np.empty_like(frames)
    for t in range(num_frames):
        scene = _as_u8(background.render(t))
        frame = paste_box(scene.copy(), target, boxes[t])
        for box, tex in zip(occluders, occluder_tex):
            paste_box(scene, tex, box)
            paste_box(frame, tex, box)
        frames[t], backgrounds[t] = frame, scene
    return TrackingSequence(name, frames, backgrounds,
                            np.asarray(boxes, np.int64).reshape(-1, 4),
                            np.asarray(occluders, np.int64).reshape(-1, 4))
