"""Function form of the open / decode steps (for tools and benchmarks).

The pipeline uses the transforms of :mod:`.loading`; these helpers run the
same code on a ``results`` dict without building a pipeline.
"""
from typing import Optional, Sequence

import numpy as np

from .loading import (SeCoRawFrameDecode, VideoReadError, decord_decode,
                      open_decord)

__all__ = ['VideoReadError', 'count_frames', 'keyframe_indices', 'read_frames']


def count_frames(results: dict, backend_args: Optional[dict] = None) -> int:
    """Number of frames of the video (or frame folder) described by results.

    Reads ``filename`` (video) or ``total_frames`` (frame folder). For videos
    the opened reader is cached in ``results['video_reader']`` for
    :func:`read_frames`.
    """
    if 'frame_dir' in results:
        return int(results['total_frames'])
    reader = open_decord(results['filename'], backend_args)
    results['video_reader'] = reader
    return len(reader)


def keyframe_indices(results: dict) -> Optional[np.ndarray]:
    """Sorted 0-based indices of the video's keyframes, or None.

    Uses ``results['video_reader']`` (decord indexes keyframes when it opens
    a file, so this costs no decoding). Frame folders have no keyframes
    (every frame is equally cheap to read), nor has a reader that cannot
    list them (PyAV): returns None.
    """
    if 'frame_dir' in results:
        return None
    reader = results.get('video_reader')
    if reader is None:
        reader = open_decord(results['filename'])
        results['video_reader'] = reader
    if not hasattr(reader, 'get_key_indices'):
        return None
    try:
        keys = np.asarray(reader.get_key_indices(), dtype=np.int64)
    except Exception as err:
        raise VideoReadError(results['filename'],
                             f'cannot list keyframes ({err})') from None
    return np.unique(keys)


def read_frames(results: dict, inds: Sequence[int]) -> list:
    """Decode exactly the frames ``inds`` (0-based), in the given order.

    Videos: see :func:`.loading.decord_decode` (one sorted pass, each
    distinct frame once); the cached reader is removed from ``results``.
    Frame folders: ``frame_dir/filename_tmpl.format(i + start_index)``.

    Returns:
        list[np.ndarray]: one (H, W, 3) uint8 RGB array per index.
    """
    inds = [int(i) for i in inds]
    if 'frame_dir' in results:
        start = int(results.get('start_index', 1))
        out = SeCoRawFrameDecode().transform(dict(
            results, frame_inds=np.array(inds) + start))
        return out['imgs']
    path = results['filename']
    reader = results.pop('video_reader', None) or open_decord(path)
    return decord_decode(reader, path, inds)
