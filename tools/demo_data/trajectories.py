"""Motion models of the demo objects, continuous in time.

Each model maps a time ``t`` (in frames, float, so motion blur can sample
inside a frame's exposure) to ``(cx, cy, scale, angle)``: the object centre in
output pixels, a factor on the object's base size and its in-plane rotation
(radians). Every object starts at a random angle, so one frame's orientation
says nothing about the class. Speeds are given for 128-pixel frames and scale
with the frame side S.

Class motions (the "how it moves" half of an action label):
    linear    left -> right translation at constant velocity, slight
              vertical drift, fixed orientation.
    circular  orbit around a fixed centre at constant angular speed, either
              sense, turning with the orbit like an object on a turntable.
    zoom      the object approaches: fixed centre (slight drift) and
              orientation, size grows exponentially by x1.8-2.6 over the clip.
Distractor motion (never a class): ``wander`` (a slow random wobble) or
static, at a fixed orientation; both also drift with the camera pan, i.e.
they stand still in the scene.
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

__all__ = [
    'LinearMotion', 'CircularMotion', 'ZoomMotion', 'WanderMotion',
    'CLASS_MOTIONS', 'sample_class_motion', 'sample_distractor_motion',
    'sample_base_size'
]

State = Tuple[float, float, float, float]  # cx, cy, scale, angle


@dataclass
class LinearMotion:
    x0: float
    y0: float
    vx: float
    vy: float
    angle: float = 0.0

    def __call__(self, t: float) -> State:
        return self.x0 + self.vx * t, self.y0 + self.vy * t, 1.0, self.angle


@dataclass
class CircularMotion:
    cx: float
    cy: float
    radius: float
    omega: float  # rad / frame, sign = sense of rotation
    phase: float
    angle: float = 0.0  # orientation at t = 0; turns with the orbit

    def __call__(self, t: float) -> State:
        a = self.omega * t
        return (self.cx + self.radius * np.cos(self.phase + a),
                self.cy + self.radius * np.sin(self.phase + a), 1.0,
                self.angle + a)


@dataclass
class ZoomMotion:
    cx: float
    cy: float
    log_rate: float  # d log(scale) / d frame
    vx: float = 0.0
    vy: float = 0.0
    angle: float = 0.0

    def __call__(self, t: float) -> State:
        return (self.cx + self.vx * t, self.cy + self.vy * t,
                float(np.exp(self.log_rate * t)), self.angle)


@dataclass
class WanderMotion:
    cx: float
    cy: float
    amps: np.ndarray  # (2, K) amplitudes for x and y
    omegas: np.ndarray  # (2, K) rad / frame
    phases: np.ndarray  # (2, K)
    drift: Tuple[float, float] = (0.0, 0.0)  # px / frame (camera pan)
    angle: float = 0.0

    def __call__(self, t: float) -> State:
        wobble = (self.amps * np.sin(self.omegas * t + self.phases)).sum(1)
        return (self.cx + self.drift[0] * t + wobble[0],
                self.cy + self.drift[1] * t + wobble[1], 1.0, self.angle)


CLASS_MOTIONS = ('linear', 'circular', 'zoom')

# Object sizes (sqrt(w * h) / S) are log-uniform in this range for every
# motion, so a single frame's object size says nothing about the motion.
# Targets fill a good part of the frame (as actors do in action clips), so
# 64-pixel views still show their texture; the range spans more than the
# largest zoom ratio (2.6).
SIZE_RANGE = (0.25, 0.7)


def _random_angle(rng: np.random.Generator) -> float:
    return float(rng.uniform(0, 2 * np.pi))


def sample_base_size(rng: np.random.Generator,
                     size: int,
                     lo: float = SIZE_RANGE[0],
                     hi: float = SIZE_RANGE[1]) -> float:
    """Object side in pixels, log-uniform in [lo, hi] * S."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))) * size)


def sample_class_motion(kind: str, rng: np.random.Generator, size: int,
                        num_frames: int, base: float):
    """Draw a class motion; ``base`` is the object side at scale 1 (pixels).

    Returns:
        tuple: (motion, base) -- ``base`` is changed only for ``zoom``, whose
        start size is chosen so all its sizes stay within ``SIZE_RANGE``.
    """
    u = size / 128.0  # speed unit
    last = max(num_frames - 1, 1)
    if kind == 'linear':
        lo, hi = 0.06 * size, 0.94 * size
        vx = min(rng.uniform(1.2, 2.6) * u, (hi - lo) / last)
        x0 = rng.uniform(lo, hi - vx * last)
        vy = rng.uniform(-0.25, 0.25) * u
        y0 = rng.uniform(0.2 * size, 0.8 * size)
        y0 = float(
            np.clip(y0, 0.15 * size - min(0, vy * last),
                    0.85 * size - max(0, vy * last)))
        return LinearMotion(x0, y0, vx, vy, _random_angle(rng)), base
    if kind == 'circular':
        radius = rng.uniform(0.12, 0.24) * size
        speed = rng.uniform(1.2, 2.8) * u  # tangential, px / frame
        omega = speed / radius * rng.choice([-1.0, 1.0])
        cx = rng.uniform(0.5 * size - 0.12 * size, 0.5 * size + 0.12 * size)
        cy = rng.uniform(0.5 * size - 0.12 * size, 0.5 * size + 0.12 * size)
        return CircularMotion(cx, cy, radius, omega, rng.uniform(0, 2 * np.pi),
                              _random_angle(rng)), base
    if kind == 'zoom':
        ratio = rng.uniform(1.8, 2.6)
        lo, hi = SIZE_RANGE[0] * size, SIZE_RANGE[1] * size
        start = float(np.exp(rng.uniform(np.log(lo), np.log(hi / ratio))))
        cx, cy = rng.uniform(0.3 * size, 0.7 * size, 2)
        vx, vy = rng.uniform(-0.2, 0.2, 2) * u
        return ZoomMotion(cx, cy,
                          np.log(ratio) / last, vx, vy,
                          _random_angle(rng)), start
    raise ValueError(
        f'unknown class motion {kind!r}; expected {CLASS_MOTIONS}')


def sample_distractor_motion(rng: np.random.Generator, size: int,
                             drift: Tuple[float, float]) -> WanderMotion:
    """Static (40%) or slowly wobbling (60%) object that moves with the pan."""
    cx, cy = rng.uniform(0.15 * size, 0.85 * size, 2)
    if rng.random() < 0.4:
        amps = np.zeros((2, 2))
    else:
        amps = rng.uniform(0.02, 0.07, (2, 2)) * size
    omegas = rng.uniform(0.05, 0.2, (2, 2))
    phases = rng.uniform(0, 2 * np.pi, (2, 2))
    return WanderMotion(cx, cy, amps, omegas, phases, drift,
                        _random_angle(rng))
