"""Labelled demo clips whose class needs both appearance and motion.

Class design
------------
Label = (texture family of the target object) x (how the target moves)::

    textures: grass | stripes | cobble          (see ``textures``)
    motions:  linear | circular | zoom          (see ``trajectories``)
    9 classes, named '<texture>_<motion>', label = texture_idx * 3 + motion_idx

Why neither cue alone is enough:

* One still frame shows *which* texture the target has, but not how it moves:
  start positions, orientations, sizes, speeds and orbit phase are random,
  and object sizes follow the same distribution for every motion, so a frame
  of a linear clip can look exactly like a frame of a circular or zoom clip.
  Appearance alone caps accuracy at 1/3 of the motion labels (33% of 9-way).
* Motion alone (which object moves how) says nothing about the texture, so
  it is right on one texture in three.

Nuisances, all drawn independently of the label, so none is a shortcut:

* two shots: the camera cuts once, at a random frame in the middle fifth of
  the clip (``CUT_RANGE``), to a new scene; the target carries on moving
  through the cut, the scene and the distractor are drawn anew. As in real
  footage, the actor, not the set, is what a whole clip shares: a scene that
  filled every frame would be the easiest cue for "same video?" (SeCo's
  inter-frame task) and would teach an encoder to describe backgrounds,
  which say nothing about the label;
* background of each shot: a random window onto a random real clip
  (``backgrounds``), panning at up to 0.6 px/frame and playing the source
  clip underneath;
* a distractor object per shot with a neutral real texture (cut away from the
  family regions), static or slowly wobbling, standing still in the panning
  scene, of the same size range as the target, in front of the target 30% of
  the time;
* silhouette (ellipse or rounded rectangle), aspect ratio, size, speed,
  start position, sense of rotation, shutter time (motion blur of the moving
  target), global brightness.

Two motions have a direction (left -> right, approaching), so the frame order
matters for them, as in SeCo's order task. The frame *set* separates all
three even without order: positions on a line at one orientation, on a
circle with the object turning through many orientations (it rides a
turntable), or at one place with growing size -- so frame-averaged features
(the paper's linear protocol) can pick up the motion, not only the texture.

Frames are uint8 RGB (T, S, S, 3); S = 128 and T = 48 by default.
"""
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from .backgrounds import PanningBackground, sample_background
from .compositing import Sprite, composite, render_sprite
from .sources import FramePool
from .textures import (family_names, sample_family_texture,
                       sample_neutral_texture, shape_mask)
from .trajectories import (CLASS_MOTIONS, sample_base_size,
                           sample_class_motion, sample_distractor_motion)

__all__ = [
    'class_names', 'decode_label', 'ClipSpec', 'Shot', 'sample_clip',
    'render_clip', 'shot_at'
]

BLUR_SAMPLES = 4
CUT_RANGE = (0.4, 0.6)  # the camera cuts once, in this part of the clip


def class_names() -> List[str]:
    """All class names; the list index is the label."""
    return [f'{tex}_{mot}' for tex in family_names() for mot in CLASS_MOTIONS]


def decode_label(label: int) -> Tuple[str, str]:
    """label -> (texture family, motion)."""
    names = class_names()
    if not 0 <= label < len(names):
        raise ValueError(f'label must be in [0, {len(names)}), got {label}')
    return family_names()[label // len(CLASS_MOTIONS)], \
        CLASS_MOTIONS[label % len(CLASS_MOTIONS)]


@dataclass
class Shot:
    """What the camera sees around the target in one shot of a clip."""
    start: int  # first frame of the shot
    background: PanningBackground
    distractor: Sprite


@dataclass
class ClipSpec:
    """Everything random about one clip, drawn once from its generator."""
    label: int
    shots: List[Shot]
    target: Sprite
    target_in_front: bool
    exposure: float  # shutter time in frames
    gain: float  # global brightness
    size: int
    num_frames: int


def _sprite(texture: np.ndarray, rng: np.random.Generator, side: float,
            motion) -> Sprite:
    aspect = np.exp(rng.uniform(np.log(0.7), np.log(1.4)))
    width, height = side * np.sqrt(aspect), side / np.sqrt(aspect)
    kind = 'ellipse' if rng.random() < 0.5 else 'rect'
    h, w = texture.shape[:2]
    return Sprite.from_texture(texture, shape_mask(kind, h, w), width, height,
                               motion)


def _shot(pool: FramePool, rng: np.random.Generator, size: int,
          num_frames: int, start: int) -> Shot:
    background = sample_background(pool, rng, size, num_frames)
    d_motion = sample_distractor_motion(rng, size, background.image_velocity())
    distractor = _sprite(
        sample_neutral_texture(pool, rng), rng, sample_base_size(rng, size),
        d_motion)
    return Shot(start, background, distractor)


def shot_at(spec: ClipSpec, t: int) -> Shot:
    """The shot frame ``t`` belongs to."""
    return [s for s in spec.shots if s.start <= t][-1]


def sample_clip(pool: FramePool, label: int, rng: np.random.Generator,
                size: int, num_frames: int) -> ClipSpec:
    """Draw the random content of one clip of class ``label``."""
    family, motion_kind = decode_label(label)
    motion, side = sample_class_motion(motion_kind, rng, size, num_frames,
                                       sample_base_size(rng, size))
    target = _sprite(
        sample_family_texture(pool, family, rng), rng, side, motion)
    lo, hi = CUT_RANGE
    cut = int(rng.integers(round(lo * num_frames), round(hi * num_frames) + 1))
    shots = [_shot(pool, rng, size, num_frames, start) for start in (0, cut)]
    return ClipSpec(
        label=label,
        shots=shots,
        target=target,
        target_in_front=bool(rng.random() < 0.7),
        exposure=float(rng.uniform(0.3, 1.0)),
        gain=float(rng.uniform(0.85, 1.15)),
        size=size,
        num_frames=num_frames)


def render_clip(spec: ClipSpec) -> np.ndarray:
    """Render all frames of a clip: uint8 (T, S, S, 3) RGB."""
    size = spec.size
    frames = np.empty((spec.num_frames, size, size, 3), np.uint8)
    shadow = max(1, int(round(0.025 * size)))
    for t in range(spec.num_frames):
        shot = shot_at(spec, t)
        target = render_sprite(spec.target, t, size, spec.exposure,
                               BLUR_SAMPLES)
        distractor = render_sprite(shot.distractor, t, size)
        layers = [distractor, target] if spec.target_in_front else \
            [target, distractor]
        img = composite(shot.background.render(t), layers, shadow)
        frames[t] = np.clip(img * spec.gain + 0.5, 0, 255).astype(np.uint8)
    return frames
