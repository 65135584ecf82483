"""SeCo frame sampling (paper Sec. 3.2; DESIGN.md section 1)."""
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from .video_reader import (VideoReadError, count_frames, keyframe_indices,
                           read_frames)

__all__ = ['SeCoSampleFrames', 'sample_seco_indices',
           'sample_seco_keyframe_indices']


def sample_seco_indices(num_frames: int, rng=np.random):
    """Draw SeCo's frame triplet and order bit from a video of ``num_frames``.

    The video is split into a first half ``[0, N//2)`` and a second half
    ``[N//2, N)``. With order bit ``s = 0`` the query frame ``a`` comes from
    the first half and the two key frames ``b <= c`` from the second half;
    with ``s = 1`` the halves are swapped. ``rng`` is a
    ``np.random.RandomState`` or the ``np.random`` module (whose global state
    mmengine seeds per worker, so runs are reproducible).

    Returns:
        tuple[int, int, int, int]: ``(a, b, c, s)``, 0-based frame indices.
    """
    half = num_frames // 2
    first, second = (0, half), (half, num_frames)
    s = int(rng.randint(2))
    query_half, key_half = (first, second) if s == 0 else (second, first)
    a = int(rng.randint(*query_half))
    b, c = sorted(int(x) for x in rng.randint(*key_half, size=2))
    return a, b, c, s


def _draw_in_half(lo, hi, keyframes, size, rng):
    """``size`` frames of ``[lo, hi)``: keyframes there if any, else any."""
    cand = keyframes[(keyframes >= lo) & (keyframes < hi)]
    if cand.size == 0:
        return [int(x) for x in rng.randint(lo, hi, size=size)]
    return [int(cand[i]) for i in rng.randint(cand.size, size=size)]


def sample_seco_keyframe_indices(num_frames: int, keyframes, rng=np.random):
    """Keyframe-aware approximation of :func:`sample_seco_indices`.

    The order bit ``s`` and the halves are drawn exactly as in
    :func:`sample_seco_indices`, but inside each half the frames are drawn
    uniformly among that half's keyframes (decoding a keyframe needs no
    other frame). A half without keyframes falls back to uniform frames of
    that half. This changes the paper's distribution (frames are uniform
    over keyframes, not over all frames; ``b == c`` is likelier), which is
    why it is opt-in.

    Args:
        num_frames (int): N, frames in the video.
        keyframes (array-like): 0-based keyframe indices (any order).
        rng: ``np.random.RandomState`` or the ``np.random`` module.

    Returns:
        tuple[int, int, int, int]: ``(a, b, c, s)`` with ``b <= c``.
    """
    keyframes = np.asarray(keyframes, dtype=np.int64).reshape(-1)
    half = num_frames // 2
    first, second = (0, half), (half, num_frames)
    s = int(rng.randint(2))
    query_half, key_half = (first, second) if s == 0 else (second, first)
    a, = _draw_in_half(*query_half, keyframes, 1, rng)
    b, c = sorted(_draw_in_half(*key_half, keyframes, 2, rng))
    return a, b, c, s


@TRANSFORMS.register_module()
class SeCoSampleFrames(BaseTransform):
    """Pick SeCo's frames (a, b, c) and the order bit s; decode only those.

    Works on videos (decord random access, never the whole video) and on
    frame folders from ``RawframeDataset``.

    Required keys:
        - filename (video) or frame_dir, total_frames, filename_tmpl,
          start_index (frame folder)

    Added keys:
        - imgs: list of 3 (H, W, 3) uint8 RGB frames ``[a, b, c]``
        - frame_inds: np.ndarray (3,) of 0-based indices ``[a, b, c]``
        - seco_order: int, the order bit s (0: query from the first half)
        - total_frames, img_shape, original_shape

    Args:
        min_frames (int): shorter videos raise :class:`VideoReadError`
            (each half needs at least one frame). Defaults to 3.
        keyframe_aware (bool): opt-in speed mode, an approximation of the
            paper: draw a, b, c among the keyframes of their half (see
            :func:`sample_seco_keyframe_indices`), so each frame costs one
            keyframe decode instead of decoding from the preceding keyframe.
            A half with no keyframe falls back to exact sampling; frame
            folders (no keyframes) always sample exactly. Defaults to False
            (the paper's uniform sampling).
    """

    def __init__(self, min_frames: int = 3, keyframe_aware: bool = False):
        if min_frames < 2:
            raise ValueError(f'min_frames must be >= 2, got {min_frames}')
        self.min_frames = min_frames
        self.keyframe_aware = bool(keyframe_aware)

    def transform(self, results: dict) -> dict:
        num_frames = count_frames(results)
        if num_frames < self.min_frames:
            results.pop('video_reader', None)
            raise VideoReadError(
                results.get('filename', results.get('frame_dir')),
                f'only {num_frames} frames, SeCo needs >= {self.min_frames}')
        keyframes = (keyframe_indices(results) if self.keyframe_aware
                     else None)
        if keyframes is None:
            a, b, c, s = sample_seco_indices(num_frames)
        else:
            a, b, c, s = sample_seco_keyframe_indices(num_frames, keyframes)
        frames = read_frames(results, [a, b, c])
        results['imgs'] = frames
        results['frame_inds'] = np.array([a, b, c])
        results['seco_order'] = s
        results['total_frames'] = num_frames
        results['img_shape'] = frames[0].shape[:2]
        results['original_shape'] = frames[0].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_frames={self.min_frames}, '
                f'keyframe_aware={self.keyframe_aware})')
