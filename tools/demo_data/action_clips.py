"""Labelled demo clips: which object a clip shows, under nuisance.

Class design
------------
Label = the identity of the one object that every frame of the clip shows:
one of 10 objects of real photographs (``objects``: a pagoda, a harbour,
trees, a dahlia, leaves, a face, a uniform, a flag, a gift box, a logo). An
instance is a random window of the object's region with a random per-clip
colour tint, shown as a soft ellipse or rounded rectangle. A single frame
reveals the label, but the object covers only part of it (0.3-0.55 of the
frame side), and everything else is drawn independently of the label and
changes within the clip while the object persists:

* three shots: the camera cuts twice (``CUT_RANGES``) to a new scene. Each
  shot draws anew its background (a panning window onto a random real clip,
  ``backgrounds``), its lighting (gain 0.8-1.2), two distractor objects
  (ellipses or rounded rectangles with neutral real textures, static or
  wobbling, 0.2-0.45 of the frame side) and whether they pass in front of
  the object (partial occlusion, 25 %);
* the object's path is one of three motions (``trajectories``: linear,
  circular, zoom; drawn at random, not by label) with a random size, start
  position and a small fixed tilt (+-0.35 rad), motion blur from a random
  shutter time.

So "are these two frames from the same clip?" (SeCo's inter-frame task) can
be answered across a cut only by the object, which is what decides the label,
while the frame features of a randomly initialised network also describe
backgrounds and clutter that carry no label information.
``tests/datasets/test_demo_data.py`` checks that statistics of the nuisances
do not predict the label.

Frames are uint8 RGB (T, S, S, 3); S = 128 and T = 48 by default.
"""
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from .backgrounds import PanningBackground, sample_background
from .compositing import Sprite, composite, render_sprite
from .objects import object_names, sample_object_texture
from .sources import FramePool
from .textures import sample_neutral_texture, shape_mask
from .trajectories import (CLASS_MOTIONS, sample_base_size,
                           sample_class_motion, sample_distractor_motion)

__all__ = [
    'class_names', 'decode_label', 'ClipSpec', 'Shot', 'sample_clip',
    'render_clip', 'shot_at', 'Upright'
]

BLUR_SAMPLES = 4
# the camera cuts twice, once in each of these parts of the clip
CUT_RANGES = ((0.25, 0.4), (0.6, 0.75))
TARGET_SIZE = (0.3, 0.55)  # object side (sqrt of w x h), fraction of S
NUM_DISTRACTORS = 2  # per shot
DISTRACTOR_SIZE = (0.2, 0.45)  # fraction of S
MAX_TILT = 0.35  # rad


def class_names() -> List[str]:
    """All class names; the list index is the label."""
    return list(object_names())


def decode_label(label: int) -> str:
    """label -> object name."""
    names = object_names()
    if not 0 <= label < len(names):
        raise ValueError(f'label must be in [0, {len(names)}), got {label}')
    return names[label]


@dataclass
class Upright:
    """A motion whose orientation is replaced by a fixed tilt."""
    motion: object
    tilt: float

    def __call__(self, t: float):
        cx, cy, scale, _ = self.motion(t)
        return cx, cy, scale, self.tilt


@dataclass
class Shot:
    """One shot: the scene, clutter and lighting; ``target`` is the clip's
    object, the same sprite in every shot."""
    start: int  # first frame of the shot
    background: PanningBackground
    target: Sprite
    distractors: List[Sprite]
    distractor_in_front: bool
    gain: float


@dataclass
class ClipSpec:
    """Everything random about one clip, drawn once from its generator."""
    label: int
    motion_kind: str
    shots: List[Shot]
    exposure: float  # shutter time in frames
    size: int
    num_frames: int




def _distractor(pool, rng, size, drift) -> Sprite:
    texture = sample_neutral_texture(pool, rng)
    side = sample_base_size(rng, size, *DISTRACTOR_SIZE)
    aspect = np.exp(rng.uniform(np.log(0.7), np.log(1.4)))
    h, w = texture.shape[:2]
    kind = 'ellipse' if rng.random() < 0.5 else 'rect'
    return Sprite.from_texture(texture, shape_mask(kind, h, w),
                               side * np.sqrt(aspect), side / np.sqrt(aspect),
                               sample_distractor_motion(rng, size, drift))


def shot_at(spec: ClipSpec, t: int) -> Shot:
    """The shot frame ``t`` belongs to."""
    return [s for s in spec.shots if s.start <= t][-1]


def sample_clip(pool: FramePool,
                label: int,
                rng: np.random.Generator,
                size: int,
                num_frames: int) -> ClipSpec:
    """Draw the random content of one clip of class ``label``."""
    name = decode_label(label)
    # a per-clip tint: instances of one class differ in colour as well
    tint = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    texture = np.clip(sample_object_texture(name, rng) * tint, 0, 255)
    h, w = texture.shape[:2]
    mask = shape_mask('ellipse' if rng.random() < 0.5 else 'rect', h, w)
    kind = CLASS_MOTIONS[int(rng.integers(len(CLASS_MOTIONS)))]
    base = sample_base_size(rng, size, *TARGET_SIZE)
    motion, side = sample_class_motion(kind, rng, size, num_frames, base)
    motion = Upright(motion, float(rng.uniform(-MAX_TILT, MAX_TILT)))
    aspect = w / h
    width, height = side * np.sqrt(aspect), side / np.sqrt(aspect)
    starts = [0] + [
        int(rng.integers(round(lo * num_frames), round(hi * num_frames) + 1))
        for lo, hi in CUT_RANGES
    ]
    shots = []
    for start in starts:
        background = sample_background(pool, rng, size, num_frames)
        target = Sprite.from_texture(texture, mask, width, height, motion)
        distractors = [_distractor(pool, rng, size,
                                   background.image_velocity())
                       for _ in range(NUM_DISTRACTORS)]
        shots.append(
            Shot(start, background, target, distractors,
                 bool(rng.random() < 0.25), float(rng.uniform(0.8, 1.2))))
    return ClipSpec(
        label=label,
        motion_kind=kind,
        shots=shots,
        exposure=float(rng.uniform(0.3, 1.0)),
        size=size,
        num_frames=num_frames)


def render_clip(spec: ClipSpec) -> np.ndarray:
    """Render all frames of a clip: uint8 (T, S, S, 3) RGB."""
    size = spec.size
    frames = np.empty((spec.num_frames, size, size, 3), np.uint8)
    shadow = max(1, int(round(0.025 * size)))
    for t in range(spec.num_frames):
        shot = shot_at(spec, t)
        target = render_sprite(shot.target, t, size, spec.exposure,
                               BLUR_SAMPLES)
        clutter = [render_sprite(d, t, size) for d in shot.distractors]
        layers = [target] + clutter if shot.distractor_in_front else \
            clutter + [target]
        img = composite(shot.background.render(t), layers, shadow)
        frames[t] = np.clip(img * shot.gain + 0.5, 0, 255).astype(np.uint8)
    return frames
