"""Open and decode: mmaction2's Init / Decode transforms with named errors.

SeCo follows mmaction2's split of loading into three transforms::

    open    SeCoDecordInit | SeCoPyAVInit     filename -> video_reader, total_frames
    sample  SeCoSampleIndices                 total_frames -> frame_inds, seco_order
    decode  SeCoDecordDecode | SeCoPyAVDecode | SeCoRawFrameDecode
                                              frame_inds -> imgs

Each class here subclasses mmaction2's transform of the same role and keeps
its options (``io_backend``, ``num_threads``, ``decoding_backend``), adding
two things SeCo needs and mmaction2 does not give:

- storage through mmengine's fileio with ``backend_args`` (local disk,
  ``http(s)://``, ``s3://`` / ``petrel://`` where the petrel client is
  installed); the backend is inferred from the path's prefix unless
  ``backend_args=dict(backend=...)`` or ``io_backend`` names one;
- every failure to read a file becomes :class:`VideoReadError` naming the
  file (or URL) and the reason, which ``SeCoVideoDataset`` /
  ``SeCoRawframeDataset`` turn into a skipped, counted sample. mmaction2's
  own transforms raise whatever the decoder or urllib raised (often
  naming no file) and PyAVDecode silently wraps indices past the end.
"""
import io
import os.path as osp
import urllib.error
from typing import List, Optional, Sequence

import numpy as np
from mmaction.datasets.transforms.loading import (DecordDecode, DecordInit,
                                                  PyAVDecode, PyAVInit,
                                                  RawFrameDecode)
from mmaction.registry import TRANSFORMS
from mmengine import fileio

__all__ = ['VideoReadError', 'fetch_bytes', 'is_local_path',
           'open_decord', 'decord_decode', 'SeCoDecordInit',
           'SeCoDecordDecode', 'SeCoPyAVInit', 'SeCoPyAVDecode',
           'SeCoRawFrameDecode']


class VideoReadError(RuntimeError):
    """A video or frame folder could not be read; names the path and reason."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f'cannot read video {path!r}: {reason}')


def _backend_args(io_backend: Optional[str],
                  backend_args: Optional[dict]) -> Optional[dict]:
    """mmengine ``backend_args`` from mmaction2's ``io_backend`` name."""
    if backend_args is not None:
        return dict(backend_args)
    if io_backend in (None, 'disk', 'local'):
        return None  # inferred from the path's prefix
    return dict(backend=io_backend)


def is_local_path(path: str, backend_args: Optional[dict] = None) -> bool:
    """True when ``path`` is read from the local file system."""
    backend = fileio.get_file_backend(path, backend_args=backend_args)
    return isinstance(backend, fileio.LocalBackend)


def fetch_bytes(path: str, backend_args: Optional[dict] = None) -> bytes:
    """The whole file at ``path`` (local, URL or object store) as bytes.

    Raises:
        VideoReadError: naming ``path``: not found (local or HTTP 404), any
            other HTTP status, an unreachable server, or an empty file.
    """
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise VideoReadError(path, 'file not found') from None
    except urllib.error.HTTPError as err:
        what = 'file not found, ' if err.code == 404 else ''
        raise VideoReadError(
            path, f'{what}HTTP {err.code} {err.reason}') from None
    except urllib.error.URLError as err:
        raise VideoReadError(
            path, f'cannot reach the server ({err.reason})') from None
    except (OSError, ValueError) as err:
        raise VideoReadError(path, f'cannot read it ({err})') from None
    if not data:
        raise VideoReadError(path, 'empty file (0 bytes)')
    return data


def _check_edit_list(reader, path: str) -> None:
    """Refuse an mp4 whose edit list hides leading frames.

    ``ffmpeg -ss T -c copy`` keeps the packets from the keyframe before T
    and writes an edit list that hides the frames before T: they get
    negative timestamps. decord counts them as frames and then seeks wrongly
    (shifted or repeated frames, or a failed seek), so such a file is
    skipped with this reason. Reading only frame timestamps costs no
    decoding.
    """
    try:
        first = float(reader.get_frame_timestamp(0)[0])
    except Exception:  # readers without timestamps (test doubles)
        return
    if first >= -1e-6:
        return
    starts = np.asarray(reader.get_frame_timestamp(
        list(range(len(reader)))))[:, 0]
    hidden = int((starts < -1e-6).sum())
    raise VideoReadError(
        path, f'mp4 edit list hides the first {hidden} of {len(reader)} '
        f'frames (first frame at {first:.3f} s); decord returns shifted '
        'frames for it: re-encode the file (e.g. ffmpeg -i in.mp4 out.mp4)')


def open_decord(path: str, backend_args: Optional[dict] = None,
                num_threads: int = 1, check_edit_list: bool = True):
    """A ``decord.VideoReader`` on ``path`` (local path or any backend).

    A local file is opened by path (decord reads only what it needs);
    other backends are fetched whole into memory first, as mmaction2's
    ``DecordInit`` does.
    """
    import decord
    if is_local_path(path, backend_args):
        if not osp.isfile(path):
            raise VideoReadError(path, 'file not found')
        if osp.getsize(path) == 0:
            raise VideoReadError(path, 'empty file (0 bytes)')
        source = path
    else:
        source = io.BytesIO(fetch_bytes(path, backend_args))
    try:
        reader = decord.VideoReader(source, num_threads=num_threads)
    except Exception as err:  # decord raises DECORDError / RuntimeError
        raise VideoReadError(path,
                             f'decoder failed to open it ({err})') from None
    if check_edit_list:
        _check_edit_list(reader, path)
    return reader


def _check_frames(path: str, inds: Sequence[int], frames: list) -> None:
    for i, frame in zip(inds, frames):
        if frame is None or frame.ndim != 3 or frame.shape[2] != 3 \
                or frame.size == 0:
            shape = None if frame is None else frame.shape
            raise VideoReadError(path,
                                 f'frame {i} has invalid shape {shape}')


def decord_decode(reader, path: str, inds: Sequence[int]) -> List[np.ndarray]:
    """Decode exactly the frames ``inds`` (0-based), in the given order.

    Each distinct frame is decoded once, in increasing order: decord then
    seeks at most once per group of pictures (GOP) and decodes forward from
    the keyframe through every requested frame of that GOP. Repeated
    indices share one decoded array (treat frames as read-only).

    Returns:
        list[np.ndarray]: one (H, W, 3) uint8 RGB array per index.
    """
    inds = [int(i) for i in inds]
    unique = sorted(set(inds))
    try:
        batch = reader.get_batch(unique).asnumpy()
    except Exception as err:
        raise VideoReadError(
            path, f'decoding frames {unique} failed ({err})') from None
    decoded = dict(zip(unique, batch))
    frames = [decoded[i] for i in inds]
    _check_frames(path, inds, frames)
    return frames


def _set_imgs(results: dict, imgs: list) -> dict:
    results['imgs'] = imgs
    results['original_shape'] = imgs[0].shape[:2]
    results['img_shape'] = imgs[0].shape[:2]
    return results


@TRANSFORMS.register_module()
class SeCoDecordInit(DecordInit):
    """mmaction2's ``DecordInit`` reading through mmengine's storage backends.

    Required keys:
        - filename: a local path or a URL (``http(s)://``, ``s3://``)

    Added keys:
        - video_reader: ``decord.VideoReader``
        - total_frames: int
        - avg_fps: float

    Args:
        io_backend (str): mmaction2's name of a storage backend ('disk',
            'http', 'petrel'); 'disk' means "infer from the path's prefix".
        num_threads (int): decord decoding threads. Defaults to 1.
        backend_args (dict, optional): mmengine fileio ``backend_args``
            (e.g. ``dict(backend='petrel', path_mapping=...)``); overrides
            ``io_backend``.
        check_edit_list (bool): skip mp4s whose edit list hides frames (see
            :func:`_check_edit_list`). Defaults to True.

    Raises:
        VideoReadError: missing / empty / unreachable file, a file decord
            cannot open, or an edit list.
    """

    def __init__(self, io_backend: str = 'disk', num_threads: int = 1,
                 backend_args: Optional[dict] = None,
                 check_edit_list: bool = True, **kwargs) -> None:
        super().__init__(io_backend=io_backend, num_threads=num_threads,
                         **kwargs)
        self.backend_args = _backend_args(io_backend, backend_args)
        self.check_edit_list = check_edit_list

    def transform(self, results: dict) -> dict:
        reader = open_decord(results['filename'], self.backend_args,
                             self.num_threads, self.check_edit_list)
        results['video_reader'] = reader
        results['total_frames'] = len(reader)
        results['avg_fps'] = reader.get_avg_fps()
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(io_backend={self.io_backend}, '
                f'num_threads={self.num_threads}, '
                f'backend_args={self.backend_args}, '
                f'check_edit_list={self.check_edit_list})')


@TRANSFORMS.register_module()
class SeCoDecordDecode(DecordDecode):
    """mmaction2's ``DecordDecode`` decoding each distinct frame once.

    Required keys:
        - video_reader, frame_inds (0-based for videos), filename

    Added keys:
        - imgs: list of (H, W, 3) uint8 RGB arrays, one per ``frame_inds``
        - original_shape, img_shape

    Removed keys:
        - video_reader

    Args:
        mode (str): 'accurate' (default, exact frames) or mmaction2's
            'efficient' (nearest keyframes).
    """

    def transform(self, results: dict) -> dict:
        reader = results.pop('video_reader')
        path = results.get('filename', '<video>')
        inds = np.asarray(results['frame_inds']).reshape(-1)
        if self.mode == 'accurate':
            imgs = decord_decode(reader, path, inds)
        else:
            try:
                imgs = self._decord_load_frames(reader, inds)
            except Exception as err:
                raise VideoReadError(path, f'decoding frames failed ({err})'
                                     ) from None
            _check_frames(path, inds, imgs)
        return _set_imgs(results, imgs)


@TRANSFORMS.register_module()
class SeCoPyAVInit(PyAVInit):
    """mmaction2's ``PyAVInit`` (PyAV, FFmpeg bundled in its wheels).

    An optional decoder: ``pip install av`` (tested with av 18.1.0).

    Required keys:
        - filename: a local path or a URL

    Added keys:
        - video_reader: an ``av`` input container
        - total_frames: frames of the first video stream

    Args:
        io_backend (str): as :class:`SeCoDecordInit`.
        backend_args (dict, optional): as :class:`SeCoDecordInit`.
    """

    def __init__(self, io_backend: str = 'disk',
                 backend_args: Optional[dict] = None, **kwargs) -> None:
        super().__init__(io_backend=io_backend, **kwargs)
        self.backend_args = _backend_args(io_backend, backend_args)

    def transform(self, results: dict) -> dict:
        import av
        path = results['filename']
        data = fetch_bytes(path, self.backend_args)
        try:
            container = av.open(io.BytesIO(data))
            streams = container.streams.video
            if not streams:
                raise ValueError('no video stream')
            total = int(streams[0].frames)
        except Exception as err:  # av.error.* and the checks above
            raise VideoReadError(path,
                                 f'decoder failed to open it ({err})') from None
        if total <= 0:
            raise VideoReadError(path, 'decoder failed to open it (the '
                                 'container does not state a frame count)')
        results['video_reader'] = container
        results['total_frames'] = total
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(io_backend={self.io_backend}, '
                f'backend_args={self.backend_args})')


@TRANSFORMS.register_module()
class SeCoPyAVDecode(PyAVDecode):
    """mmaction2's ``PyAVDecode`` ('accurate' mode), with named errors.

    Decodes the video from its start up to the largest requested index and
    keeps only the requested frames (mmaction2's accurate mode keeps every
    frame, and wraps an index past the end around silently; here that is a
    :class:`VideoReadError`). Cost grows with the largest index: decord's
    seeking is faster on long videos.

    Required keys:
        - video_reader (from :class:`SeCoPyAVInit`), frame_inds, filename

    Added keys:
        - imgs, original_shape, img_shape

    Removed keys:
        - video_reader
    """

    def __init__(self, multi_thread: bool = False) -> None:
        super().__init__(multi_thread=multi_thread, mode='accurate')

    def transform(self, results: dict) -> dict:
        container = results.pop('video_reader')
        path = results.get('filename', '<video>')
        inds = [int(i) for i in np.asarray(results['frame_inds']).reshape(-1)]
        wanted, decoded, last = set(inds), {}, max(inds)
        try:
            if self.multi_thread:
                container.streams.video[0].thread_type = 'AUTO'
            for i, frame in enumerate(container.decode(video=0)):
                if i in wanted:
                    decoded[i] = frame.to_ndarray(format='rgb24')
                if i >= last:
                    break
        except Exception as err:
            raise VideoReadError(path, f'decoding frames {sorted(wanted)} '
                                 f'failed ({err})') from None
        finally:
            container.close()
        missing = sorted(wanted - set(decoded))
        if missing:
            raise VideoReadError(path, f'decoding frames {missing} failed '
                                 '(the stream ended before them)')
        imgs = [decoded[i] for i in inds]
        _check_frames(path, inds, imgs)
        return _set_imgs(results, imgs)


@TRANSFORMS.register_module()
class SeCoRawFrameDecode(RawFrameDecode):
    """mmaction2's ``RawFrameDecode`` (RGB) through mmengine's backends.

    Reads ``frame_dir/filename_tmpl.format(index + offset)`` for each
    distinct index of ``frame_inds`` (which include ``start_index``, as
    mmaction2's samplers write them).

    Required keys:
        - frame_dir, frame_inds, filename_tmpl (default ``img_{:05}.jpg``),
          offset (optional, default 0)

    Added keys:
        - imgs: list of (H, W, 3) uint8 RGB arrays
        - original_shape, img_shape

    Args:
        io_backend (str): as :class:`SeCoDecordInit`.
        decoding_backend (str): mmcv image backend. Defaults to 'cv2'.
        backend_args (dict, optional): as :class:`SeCoDecordInit`.

    Raises:
        VideoReadError: naming the missing or undecodable image file.
    """

    def __init__(self, io_backend: str = 'disk',
                 decoding_backend: str = 'cv2',
                 backend_args: Optional[dict] = None, **kwargs) -> None:
        super().__init__(io_backend=io_backend,
                         decoding_backend=decoding_backend, **kwargs)
        self.backend_args = _backend_args(io_backend, backend_args)

    def transform(self, results: dict) -> dict:
        import mmcv
        if results.get('modality', 'RGB') != 'RGB':
            raise ValueError('SeCoRawFrameDecode reads RGB frames only, got '
                             f"modality={results['modality']!r}")
        directory = results['frame_dir']
        tmpl = results.get('filename_tmpl', 'img_{:05}.jpg')
        offset = int(results.get('offset', 0))
        inds = [int(i) for i in np.asarray(results['frame_inds']).reshape(-1)]
        decoded = {}
        for i in sorted(set(inds)):
            path = osp.join(directory, tmpl.format(i + offset))
            data = fetch_bytes(path, self.backend_args)
            try:
                img = mmcv.imfrombytes(data, channel_order='rgb',
                                       backend=self.decoding_backend)
            except Exception:  # cv2.error / PIL errors on a corrupt file
                img = None
            if img is None:
                raise VideoReadError(path, 'frame image unreadable (not a '
                                     'decodable image)')
            decoded[i] = img
        imgs = [decoded[i] for i in inds]
        _check_frames(directory, inds, imgs)
        return _set_imgs(results, imgs)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(io_backend={self.io_backend}, '
                f'decoding_backend={self.decoding_backend}, '
                f'backend_args={self.backend_args})')
