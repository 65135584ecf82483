"""Random-access frame reading for videos (decord) and frame folders."""
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np

__all__ = ['VideoReadError', 'count_frames', 'keyframe_indices', 'read_frames']


class VideoReadError(RuntimeError):
    """A video or frame folder could not be read; names the path and reason."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f'cannot read video {path!r}: {reason}')


def _open_video(path: str):
    import decord
    if not osp.isfile(path):
        raise VideoReadError(path, 'file not found')
    if osp.getsize(path) == 0:
        raise VideoReadError(path, 'empty file (0 bytes)')
    try:
        return decord.VideoReader(path, num_threads=1)
    except Exception as err:  # decord raises its own DECORDError/RuntimeError
        raise VideoReadError(path, f'decoder failed to open it ({err})') from None


def count_frames(results: dict) -> int:
    """Number of frames of the video (or frame folder) described by results.

    Reads ``filename`` (video) or ``total_frames`` (frame folder). For videos
    the opened reader is cached in ``results['video_reader']`` for
    :func:`read_frames`.
    """
    if 'frame_dir' in results:
        return int(results['total_frames'])
    reader = _open_video(results['filename'])
    results['video_reader'] = reader
    return len(reader)


def keyframe_indices(results: dict) -> Optional[np.ndarray]:
    """Sorted 0-based indices of the video's keyframes, or None.

    Uses the reader cached by :func:`count_frames` (decord indexes keyframes
    when it opens a file, so this costs no decoding). Frame folders have no
    keyframes (every frame is equally cheap to read): returns None.
    """
    if 'frame_dir' in results:
        return None
    reader = results.get('video_reader')
    if reader is None:
        reader = _open_video(results['filename'])
        results['video_reader'] = reader
    try:
        keys = np.asarray(reader.get_key_indices(), dtype=np.int64)
    except Exception as err:
        raise VideoReadError(results['filename'],
                             f'cannot list keyframes ({err})') from None
    return np.unique(keys)


def read_frames(results: dict, inds: Sequence[int]) -> list:
    """Decode exactly the frames ``inds`` (0-based), in the given order.

    Each distinct frame is decoded once, in increasing order: decord then
    seeks at most once per group of pictures (GOP) and decodes forward from
    the keyframe through every requested frame of that GOP, so the cost is
    the decoding bound (measured in benchmarks/bench_data.py). Repeated
    indices share one decoded array (treat frames as read-only).

    Returns:
        list[np.ndarray]: one (H, W, 3) uint8 RGB array per index.
    """
    inds = [int(i) for i in inds]
    unique = sorted(set(inds))
    if 'frame_dir' in results:
        tmpl = results.get('filename_tmpl', 'img_{:05}.jpg')
        offset = results.get('start_index', 1)
        decoded = {}
        for i in unique:
            path = osp.join(results['frame_dir'], tmpl.format(i + offset))
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise VideoReadError(path, 'frame image missing or unreadable')
            decoded[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        path = results['filename']
        reader = results.pop('video_reader', None) or _open_video(path)
        try:
            batch = reader.get_batch(unique).asnumpy()
        except Exception as err:
            raise VideoReadError(
                path, f'decoding frames {unique} failed ({err})') from None
        decoded = dict(zip(unique, batch))
    frames = [decoded[i] for i in inds]
    for i, frame in zip(inds, frames):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
            raise VideoReadError(results.get('filename', results.get(
                'frame_dir')), f'frame {i} has invalid shape {frame.shape}')
    return frames
