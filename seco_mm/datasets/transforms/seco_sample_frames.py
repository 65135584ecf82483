"""SeCo frame sampling (paper Sec. 3.2; docs/data.md).

:class:`SeCoSampleIndices` only chooses indices; it sits between an open
transform (``SeCoDecordInit`` / ``SeCoPyAVInit``, or a frame-folder dataset)
and a decode transform (``SeCoDecordDecode`` / ``SeCoPyAVDecode`` /
``SeCoRawFrameDecode``), as mmaction2's ``SampleFrames`` does.
:class:`SeCoSampleFrames` is the one-line form of open + sample + decode.
"""
from typing import Optional

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from .loading import (SeCoDecordDecode, SeCoDecordInit, SeCoRawFrameDecode,
                      VideoReadError)
from .video_reader import keyframe_indices

__all__ = ['SeCoSampleIndices', 'SeCoSampleFrames', 'sample_seco_indices',
           'sample_seco_keyframe_indices', 'sample_one_frame_index',
           'grid_indices']


def grid_indices(num_frames: int, num: int) -> np.ndarray:
    """``num`` uniformly spaced 0-based frame indices of a video.

    The centre of each of ``num`` equal segments: ``floor((i + 0.5) * N /
    num)``; all N frames when ``N <= num``. Used both by
    ``tools/extract_frames.py`` (which frames to write) and by
    ``SeCoSampleIndices(num_grid=num)`` (the same frames, read from the
    video), so the two paths see the same frames.

    Returns:
        np.ndarray: (min(N, num),) int64, strictly increasing.
    """
    if num_frames <= num:
        return np.arange(num_frames, dtype=np.int64)
    return np.floor((np.arange(num) + 0.5) * num_frames / num).astype(
        np.int64)


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


def sample_one_frame_index(num_frames: int, keyframes=None,
                           rng=np.random) -> int:
    """One frame of the whole video, for MoCo v2 on frames (no time).

    Uniform over all ``num_frames`` frames, or over ``keyframes`` when
    given and non-empty (the keyframe-aware speed mode). No halves and no
    order bit: the frame is the only one decoded.

    Returns:
        int: a 0-based frame index.
    """
    keyframes = (None if keyframes is None else
                 np.asarray(keyframes, dtype=np.int64).reshape(-1))
    if keyframes is None:
        return int(rng.randint(num_frames))
    frame, = _draw_in_half(0, num_frames, keyframes, 1, rng)
    return frame


@TRANSFORMS.register_module()
class SeCoSampleIndices(BaseTransform):
    """Choose SeCo's frames (a, b, c) and the order bit s; decode nothing.

    Required keys:
        - total_frames: int (from an open transform or a frame-folder list)
        - start_index: int, added to the indices as mmaction2's samplers do
          (0 for videos, 1 for ``img_00001.jpg`` folders); default 0
        - video_reader: only with ``keyframe_aware`` (decord's keyframe
          index; a reader without one, or a frame folder, samples exactly)

    Added keys:
        - frame_inds: np.ndarray (3,) ``[a, b, c] + start_index``
        - seco_order: int, the order bit s (0: query from the first half)
        - clip_len = 3, num_clips = 1, frame_interval = None (mmaction2's
          sampler keys)

    With ``one_frame=True`` (MoCo v2 on frames, the ablation baseline):
    ``frame_inds`` is (1,) ``[a] + start_index``, ``a`` uniform over the
    whole video (or grid / keyframes), ``clip_len = 1`` and no
    ``seco_order``: only one frame is decoded per clip.

    Args:
        min_frames (int): fewer frames (after the grid, if any) raise
            :class:`VideoReadError` (each half needs a frame). Defaults to 3.
        keyframe_aware (bool): opt-in speed mode, an approximation of the
            paper: draw a, b, c among the keyframes of their half (see
            :func:`sample_seco_keyframe_indices`). Defaults to False.
        num_grid (int, optional): draw a, b, c among ``num_grid`` uniformly
            spaced frames (:func:`grid_indices`), halves split at
            ``num_grid // 2`` of the grid: the distribution of the
            reference's 30 extracted frames per video (``num_grid=30``),
            read straight from the video. Defaults to None (all frames).
        one_frame (bool): sample ONE frame per clip instead of SeCo's
            triplet (for ``SeCoMultiView``'s two-view mode and a SeCo model
            with only the inter head and ``inter_keys='same_frame'``).
            ``min_frames`` still applies, so the same clips are kept as
            with the triplet. Defaults to False.
    """

    def __init__(self, min_frames: int = 3, keyframe_aware: bool = False,
                 num_grid: Optional[int] = None, one_frame: bool = False):
        if min_frames < 2:
            raise ValueError(f'min_frames must be >= 2, got {min_frames}')
        if num_grid is not None and (isinstance(num_grid, bool)
                                     or int(num_grid) < min_frames):
            raise ValueError(f'num_grid must be an int >= min_frames '
                             f'({min_frames}), got {num_grid!r}')
        if num_grid is not None and keyframe_aware:
            raise ValueError('num_grid and keyframe_aware cannot be combined '
                             '(the grid fixes which frames may be drawn)')
        self.min_frames = min_frames
        self.keyframe_aware = bool(keyframe_aware)
        self.num_grid = None if num_grid is None else int(num_grid)
        self.one_frame = bool(one_frame)

    def transform(self, results: dict) -> dict:
        num_frames = int(results['total_frames'])
        grid = (None if self.num_grid is None else
                grid_indices(num_frames, self.num_grid))
        usable = num_frames if grid is None else len(grid)
        if usable < self.min_frames:
            results.pop('video_reader', None)
            raise VideoReadError(
                results.get('filename', results.get('frame_dir')),
                f'only {num_frames} frames, SeCo needs >= {self.min_frames}')
        keyframes = (keyframe_indices(results) if self.keyframe_aware
                     else None)
        start = int(results.get('start_index', 0) or 0)
        if self.one_frame:
            pos = sample_one_frame_index(usable, keyframes)
            a = pos if grid is None else int(grid[pos])
            results.pop('seco_order', None)
            results['frame_inds'] = np.array([a]) + start
            results['clip_len'], results['num_clips'] = 1, 1
            results['frame_interval'] = None
            return results
        if grid is not None:
            pos = sample_seco_indices(usable)
            a, b, c, s = (*(int(grid[p]) for p in pos[:3]), pos[3])
        elif keyframes is None:
            a, b, c, s = sample_seco_indices(num_frames)
        else:
            a, b, c, s = sample_seco_keyframe_indices(num_frames, keyframes)
        results['frame_inds'] = np.array([a, b, c]) + start
        results['seco_order'] = s
        results['clip_len'], results['num_clips'] = 3, 1
        results['frame_interval'] = None
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_frames={self.min_frames}, '
                f'keyframe_aware={self.keyframe_aware}, '
                f'num_grid={self.num_grid}, one_frame={self.one_frame})')


@TRANSFORMS.register_module()
class SeCoSampleFrames(BaseTransform):
    """Open, sample and decode SeCo's frames in one step (decord / folders).

    Shorthand for ``SeCoDecordInit -> SeCoSampleIndices -> SeCoDecordDecode``
    on a video (``filename``) and ``SeCoSampleIndices -> SeCoRawFrameDecode``
    on a frame folder (``frame_dir``); each option goes to the step that
    owns it. Use the three transforms to pick another decoder (PyAV).

    Required keys:
        - filename (video) or frame_dir, total_frames, filename_tmpl,
          start_index (frame folder)

    Added keys:
        - imgs: list of 3 (H, W, 3) uint8 RGB frames ``[a, b, c]`` (1 frame
          ``[a]`` with ``one_frame``)
        - frame_inds: np.ndarray (3,) of 0-based indices ``[a, b, c]``
          ((1,) with ``one_frame``; without ``start_index``, unlike
          :class:`SeCoSampleIndices`)
        - seco_order: int, the order bit s (0: query from the first half);
          not with ``one_frame``
        - total_frames, img_shape, original_shape

    Args:
        min_frames, keyframe_aware, num_grid, one_frame: see
            :class:`SeCoSampleIndices`.
        io_backend, backend_args: see :class:`SeCoDecordInit`.
        check_edit_list (bool): see :class:`SeCoDecordInit`.
    """

    def __init__(self, min_frames: int = 3, keyframe_aware: bool = False,
                 num_grid: Optional[int] = None, io_backend: str = 'disk',
                 backend_args: Optional[dict] = None,
                 check_edit_list: bool = True, one_frame: bool = False):
        self.sampler = SeCoSampleIndices(min_frames, keyframe_aware, num_grid,
                                         one_frame)
        self.opener = SeCoDecordInit(io_backend=io_backend,
                                     backend_args=backend_args,
                                     check_edit_list=check_edit_list)
        self.video_decoder = SeCoDecordDecode()
        self.frame_decoder = SeCoRawFrameDecode(io_backend=io_backend,
                                                backend_args=backend_args)
        self.min_frames = min_frames
        self.keyframe_aware = self.sampler.keyframe_aware
        self.num_grid = self.sampler.num_grid
        self.one_frame = self.sampler.one_frame

    def transform(self, results: dict) -> dict:
        if 'frame_dir' in results:
            results.setdefault('start_index', 1)
            results = self.frame_decoder.transform(
                self.sampler.transform(results))
        else:
            results['start_index'] = 0
            results = self.video_decoder.transform(self.sampler.transform(
                self.opener.transform(results)))
        results['frame_inds'] = (results['frame_inds']
                                 - int(results['start_index']))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_frames={self.min_frames}, '
                f'keyframe_aware={self.keyframe_aware}, '
                f'num_grid={self.num_grid}, one_frame={self.one_frame}, '
                f'backend_args={self.opener.backend_args})')
