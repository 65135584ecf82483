"""Moving real backgrounds: a window over a source clip that pans and plays.

Each demo clip (and tracking sequence) looks through a square window onto one
source clip. The window has a random size (so the scene appears at different
zooms), slides with a constant random velocity (a camera pan) and the source
clip may play on underneath it (0, 0.5 or 1 source frame per output frame),
so backgrounds carry real content and real, label-independent motion. The
played frames stay inside one shot of the source clip (no scene cuts).
"""
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .sources import FramePool

__all__ = ['PanningBackground', 'sample_background']


@dataclass
class PanningBackground:
    """A panning window onto one clip of a :class:`FramePool`.

    Attributes:
        pool (FramePool): the source frames.
        clip (str): clip name.
        first_frame (int): source frame shown at t = 0.
        frame_step (float): source frames advanced per output frame.
        window (float): window side in pool pixels.
        x0, y0 (float): window top-left corner at t = 0 (pool pixels).
        vx, vy (float): window velocity, pool pixels per output frame.
        size (int): output side S in pixels.
    """
    pool: FramePool
    clip: str
    first_frame: int
    frame_step: float
    window: float
    x0: float
    y0: float
    vx: float
    vy: float
    size: int

    @property
    def scale(self) -> float:
        """Output pixels per pool pixel."""
        return self.size / self.window

    def image_velocity(self):
        """Apparent velocity of scene content in output px/frame, (dx, dy)."""
        return -self.vx * self.scale, -self.vy * self.scale

    def render(self, t: float) -> np.ndarray:
        """Background at time ``t`` (frames): float32 (S, S, 3) RGB."""
        src = self.pool.frame(
            self.clip, int(round(self.first_frame + self.frame_step * t)))
        a = self.window / self.size  # pool px per output px
        matrix = np.array(
            [[a, 0, self.x0 + self.vx * t], [0, a, self.y0 + self.vy * t]],
            np.float64)
        out = cv2.warpAffine(
            src,
            matrix, (self.size, self.size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT)
        return out.astype(np.float32)


def sample_background(
    pool: FramePool,
    rng: np.random.Generator,
    size: int,
    num_frames: int,
    max_pan: float = 0.6,
    exclude_clips: Sequence[str] = ()) -> PanningBackground:
    """Draw a random panning background.

    Args:
        size (int): output side S.
        num_frames (int): clip length T; the window stays inside the source
            frame for t in [0, T - 1].
        max_pan (float): largest pan speed, in output pixels per frame at
            S = 128 (scaled with S).
        exclude_clips (Sequence[str]): clips not to use. Only for unlabelled
            data: excluding by label would make the background a shortcut.
    """
    clip, first = pool.random_frame_ref(rng, exclude_clips)
    height, width = pool.height, pool.width(clip)
    window = height * rng.uniform(0.5, 0.9)
    step = float(rng.choice([0.0, 0.5, 1.0]))
    # keep the played range inside the shot: slow down if the shot is short
    shot_first, shot_last = pool.shot_range(clip, first)
    step = min(step, (shot_last - shot_first) / max(num_frames - 1, 1))
    span = step * (num_frames - 1)
    first = int(max(shot_first, min(first, shot_last - span)))
    speed = max_pan * size / 128 * rng.uniform(0, 1) * window / size
    angle = rng.uniform(0, 2 * np.pi)
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    # shrink the pan if the window would leave the frame
    room_x, room_y = width - window, height - window
    travel_x, travel_y = abs(vx) * (num_frames - 1), abs(vy) * (num_frames - 1)
    shrink = min(1.0, room_x / max(travel_x, 1e-6),
                 room_y / max(travel_y, 1e-6))
    vx, vy = vx * shrink, vy * shrink
    travel_x, travel_y = travel_x * shrink, travel_y * shrink
    x0 = rng.uniform(0, max(0.0, room_x - travel_x)) + (
        travel_x if vx < 0 else 0)
    y0 = rng.uniform(0, max(0.0, room_y - travel_y)) + (
        travel_y if vy < 0 else 0)
    return PanningBackground(pool, clip, first, step, window, x0, y0, vx, vy,
                             size)
