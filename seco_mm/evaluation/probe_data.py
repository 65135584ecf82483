"""Videos for the linear probe: one sample per video, or a named failure.

Frames are read with mmaction2's own test pipeline (``DecordInit`` /
``SampleFrames(test_mode=True)`` / ``DecordDecode``, optional short-side
``Resize``, ``CenterCrop``, ``FormatShape('NCHW')``, ``PackActionInputs``).
What this module adds is what a long evaluation run needs and mmaction2's
``VideoDataset`` does not give:

- a video that cannot be read (not a video, no video stream, a GIF, frames of
  a broken shape) is returned as a :class:`BadVideo` record naming the file
  and the reason, instead of an exception that names ``[BytesIO]`` and stops
  the whole split; the extractor then skips it or stops, as asked;
- a frame smaller than the centre crop (after ``Resize``) is such a failure
  too (mmaction2's ``CenterCrop`` would silently return a smaller or shifted
  crop): :class:`CheckCropFits`;
- :func:`list_overlap` finds videos listed in both train and val.
"""
import os.path as osp
import re
from typing import List, NamedTuple, Optional, Sequence

import numpy as np
from mmaction.datasets import VideoDataset
from mmcv.transforms import BaseTransform

from seco_mm.datasets.annotation import AnnotationError, iter_video_list
from seco_mm.datasets.transforms.video_reader import VideoReadError

__all__ = ['BadVideo', 'CheckCropFits', 'ProbeVideoDataset',
           'build_probe_dataset', 'read_probe_list', 'list_overlap']


class BadVideo(NamedTuple):
    """A video of the probe list that gave no sample.

    ``index`` is its position in the list, ``path`` the file, ``reason`` the
    decoder's or the check's message (one line).
    """
    index: int
    path: str
    reason: str


class CheckCropFits(BaseTransform):
    """Refuse frames that are not (H, W, 3) or smaller than the centre crop.

    Placed after the optional ``Resize`` and before ``CenterCrop``: mmaction2's
    ``CenterCrop`` computes a negative offset for a frame smaller than the
    crop and returns a wrong-sized or shifted window without a word.

    Required keys: ``imgs`` (list of (H, W, C) arrays), ``filename``.
    Raises :class:`VideoReadError` naming the file and both sizes.
    """

    def __init__(self, crop_size: int, resize: Optional[int] = None):
        self.crop_size = crop_size
        self.resize = resize

    def transform(self, results: dict) -> dict:
        path = results.get('filename', '?')
        for i, img in enumerate(results['imgs']):
            if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
                raise VideoReadError(path, f'decoded frame {i} has shape '
                                     f'{img.shape}, not (H, W, 3)')
        h, w = results['imgs'][0].shape[:2]
        if min(h, w) < self.crop_size:
            after = (f' after --resize {self.resize}' if self.resize else
                     ' (no --resize)')
            raise VideoReadError(
                path, f'frame {w}x{h}{after} is smaller than the '
                f'{self.crop_size}x{self.crop_size} centre crop')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'resize={self.resize})')


_DECORD_PREFIX = re.compile(r'^\[[\d:]+\] \S+:\d+: ')


def _one_line(err: BaseException, limit: int = 300) -> str:
    """A decoder message on one line, without decord's log prefix
    (``[07:06:43] /src/video/video_reader.cc:270: ``) and without the
    ``[BytesIO]`` it prints instead of the file name."""
    if isinstance(err, VideoReadError):
        return err.reason
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    text = _DECORD_PREFIX.sub('', lines[0] if lines else '')
    text = text.replace('[BytesIO] ', '').replace('[BytesIO]', '')
    return f'{type(err).__name__}: {text}'[:limit]


class ProbeVideoDataset:
    """mmaction2 ``VideoDataset`` (test mode) whose items never raise.

    ``dataset[i]`` is ``(i, packed_sample)`` when the video decodes, else
    ``(i, BadVideo(i, path, reason))``. ``KeyboardInterrupt`` and
    ``MemoryError`` still propagate.

    Args:
        dataset: an mmaction2 ``VideoDataset`` built with ``test_mode=True``.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def path(self, idx: int) -> str:
        return self.dataset.get_data_info(idx)['filename']

    def labels(self) -> np.ndarray:
        return np.array([self.dataset.get_data_info(i)['label']
                         for i in range(len(self))], dtype=np.int64)

    def __getitem__(self, idx: int):
        try:
            return idx, self.dataset[idx]
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as err:  # any decoder / transform failure
            return idx, BadVideo(idx, self.path(idx), _one_line(err))


LINE_FORMAT = '"<relative/path.mp4> <int label>"'


def _list_entries(list_file: str):
    """``(lineno, item)`` from the project's list reader, whose errors
    (``file:line: reason``) also say what a probe line must be."""
    try:
        yield from iter_video_list(list_file)
    except AnnotationError as err:
        raise AnnotationError(err.path, err.lineno,
                              f'{err.reason}; expected {LINE_FORMAT}'
                              ) from None


def read_probe_list(list_file: str, data_prefix: str) -> List[dict]:
    """The probe's video list, checked before anything is decoded.

    Read by :func:`seco_mm.datasets.annotation.iter_video_list` (UTF-8, a
    byte-order mark dropped); every line must hold a path and one integer
    label, and the video must exist under ``data_prefix``.

    Returns:
        list[dict]: ``dict(filename=<data_prefix>/<path>, label=int)`` per
        line, as mmaction2's ``VideoDataset`` lists them.
    Raises:
        AnnotationError: ``list_file:line: ...`` for a malformed line.
        FileNotFoundError: the list, or (``list_file:line: ...``) a video,
            does not exist.
    """
    entries = []
    for num, item in _list_entries(list_file):
        label = item.get('label')
        if not isinstance(label, int):
            got = 'no label' if label is None else f'labels {label}'
            raise AnnotationError(list_file, num, f'expected {LINE_FORMAT}, '
                                  f'got {item["filename"]!r} with {got}')
        path = osp.join(data_prefix, item['filename'])
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{list_file}:{num}: video {item["filename"]!r} not found '
                f'under {data_prefix}')
        entries.append(dict(filename=path, label=label))
    return entries


class _ListedVideoDataset(VideoDataset):
    """mmaction2's ``VideoDataset`` over entries already read by
    :func:`read_probe_list` (the list is read once, BOM-safe, instead of
    again by mmaction2's own reader)."""

    def __init__(self, entries: List[dict], **kwargs):
        self._entries = entries
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        return [dict(e) for e in self._entries]


def build_probe_dataset(list_file: str, data_prefix: str, num_frames: int,
                        crop_size: int, resize: Optional[int] = None
                        ) -> ProbeVideoDataset:
    """Probe dataset: each item (num_frames, 3, crop, crop) uint8 or a failure.

    Frames: ``SampleFrames(clip_len=1, num_clips=num_frames, test_mode=True)``
    (the centres of ``num_frames`` equal segments), optional short-side
    ``Resize(-1, resize)``, :class:`CheckCropFits`, ``CenterCrop(crop_size)``.

    Raises:
        ValueError: ``resize`` smaller than ``crop_size`` (no video could fit).
    """
    from mmengine.registry import DefaultScope

    if resize and resize < crop_size:
        raise ValueError(f'--crop-size {crop_size} is larger than the short '
                         f'side --resize {resize}: no frame could hold the '
                         'crop')
    entries = read_probe_list(list_file, data_prefix)
    pipeline = [
        dict(type='DecordInit', io_backend='disk'),
        dict(type='SampleFrames', clip_len=1, frame_interval=1,
             num_clips=num_frames, test_mode=True),
        dict(type='DecordDecode'),
    ]
    if resize:
        pipeline.append(dict(type='Resize', scale=(-1, resize)))
    pipeline += [
        CheckCropFits(crop_size, resize),
        dict(type='CenterCrop', crop_size=crop_size),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmaction'):
        dataset = _ListedVideoDataset(entries, ann_file=list_file,
                                      data_prefix=dict(video=data_prefix),
                                      pipeline=pipeline, test_mode=True)
    return ProbeVideoDataset(dataset)


def list_overlap(train: ProbeVideoDataset, val: ProbeVideoDataset
                 ) -> List[str]:
    """Videos (real paths) listed in both splits, sorted."""
    def real(ds: ProbeVideoDataset) -> Sequence[str]:
        return {osp.realpath(ds.path(i)) for i in range(len(ds))}
    return sorted(real(train) & real(val))
