"""Video lists for self-supervised pretraining: labelled, unlabelled, folders.

Also the skip / count / limit machinery for unreadable samples
(:class:`SkipUnreadableMixin`), shared with the frame-folder dataset.
"""
import logging
import os
import os.path as osp
from typing import Any, List, Sequence

from mmaction.datasets import BaseActionDataset
from mmaction.registry import DATASETS
from mmengine.logging import print_log

from .annotation import (VIDEO_EXTENSIONS, AnnotationError,  # noqa: F401
                         parse_video_list, scan_videos)
from .transforms.loading import VideoReadError, is_local_path

__all__ = ['SeCoVideoDataset', 'SkipUnreadableMixin', 'BAD_VIDEOS_KEY',
           'WorkerBoard']

# Metainfo key of a packed data sample listing the videos that failed to
# decode (and were replaced by this sample): list of (path, reason).
BAD_VIDEOS_KEY = 'bad_videos'


class WorkerBoard:
    """Which video each data-loading process is reading right now.

    A small shared-memory table (created in the main process, inherited by
    the workers) with one slot per worker: ``"<pid>\\t<path>"`` while a
    sample is being loaded, empty otherwise. If a native decoder crashes or
    hangs, the worker cannot report anything itself; the main process then
    reads the table (:meth:`in_progress`) to name the video.

    Args:
        slots (int): worker ids >= slots are not tracked.
        slot_bytes (int): longer paths are cut at the front.
    """

    def __init__(self, slots: int = 64, slot_bytes: int = 1024):
        import multiprocessing as mp
        self.slots, self.slot_bytes = slots, slot_bytes
        self._buf = mp.RawArray('c', slots * slot_bytes)

    def __getstate__(self) -> dict:
        # Shared memory travels only to processes being started (spawn);
        # any other copy (deepcopy, pickle to disk) gets a fresh board.
        from multiprocessing.context import get_spawning_popen
        state = dict(slots=self.slots, slot_bytes=self.slot_bytes)
        if get_spawning_popen() is not None:
            state['buf'] = self._buf
        return state

    def __setstate__(self, state: dict) -> None:
        buf = state.pop('buf', None)
        self.__init__(**state)
        if buf is not None:
            self._buf = buf

    @staticmethod
    def _slot() -> int:
        from torch.utils.data import get_worker_info
        info = get_worker_info()
        return -1 if info is None else info.id

    def mark(self, path: str) -> None:
        """Record that this worker starts loading ``path``."""
        slot = self._slot()
        if 0 <= slot < self.slots:
            text = f'{os.getpid()}\t{path}'.encode('utf-8', 'replace')
            text = text[-(self.slot_bytes - 1):]
            start = slot * self.slot_bytes
            self._buf[start:start + len(text) + 1] = text + b'\0'

    def clear(self) -> None:
        """Record that this worker finished its sample."""
        slot = self._slot()
        if 0 <= slot < self.slots:
            self._buf[slot * self.slot_bytes] = b'\0'

    def in_progress(self) -> dict:
        """``{worker_id: (pid, path)}`` of the samples being loaded."""
        found = {}
        for slot in range(self.slots):
            start = slot * self.slot_bytes
            raw = bytes(self._buf[start:start + self.slot_bytes])
            text = raw.split(b'\0', 1)[0].decode('utf-8', 'replace')
            if text:
                pid, _, path = text.partition('\t')
                found[slot] = (int(pid), path)
        return found


class SkipUnreadableMixin:
    """Skip, count and limit unreadable samples (videos or frame folders).

    Mixed into an mmaction2 dataset (before it in the bases). A pipeline
    step that raises :class:`~seco_mm.datasets.transforms.VideoReadError`
    makes :meth:`prepare_data` return None in training, and mmengine's
    ``BaseDataset.__getitem__`` draws another index. The failures are not
    logged here (data-loading workers are separate processes, so a file
    would be reported once per worker): the replacement sample carries them
    as ``data_samples.metainfo['bad_videos']`` = ``[(path, reason), ...]``
    and :class:`~seco_mm.engine.SeCoBadSampleHook` warns once per file,
    logs the count and enforces ``max_bad_fraction`` in the main process.
    In test mode a bad sample raises.

    A decoder that crashes (segfault) or hangs takes its worker down or
    blocks it; PyTorch then raises "DataLoader worker ... exited
    unexpectedly" (or, with ``train_dataloader.timeout``, "timed out").
    ``worker_board`` tells which video each worker was reading, and
    :func:`seco_mm.engine.loader_failure.explain_loader_failure` (used by
    tools/train.py) adds it to the error.
    """

    def _init_skipping(self, max_bad_fraction: float,
                       bad_check_min_samples: int) -> None:
        name = type(self).__name__
        if (isinstance(max_bad_fraction, bool)
                or not isinstance(max_bad_fraction, (int, float))
                or not 0.0 <= max_bad_fraction <= 1.0):
            raise ValueError(f'{name}.max_bad_fraction must be a '
                             f'number in [0, 1], got {max_bad_fraction!r}')
        if (isinstance(bad_check_min_samples, bool)
                or not isinstance(bad_check_min_samples, int)
                or bad_check_min_samples < 1):
            raise ValueError(f'{name}.bad_check_min_samples must be '
                             f'a positive int, got {bad_check_min_samples!r}')
        self.max_bad_fraction = float(max_bad_fraction)
        self.bad_check_min_samples = bad_check_min_samples
        # failures since the last successful sample of this process
        self._pending_bad: List[tuple] = []
        self.worker_board = WorkerBoard()

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on video ``idx``; None if it cannot be decoded.

        Returning None makes ``BaseDataset.__getitem__`` try a random other
        index (up to ``max_refetch`` times); the failures collected on the
        way are attached to the sample that finally succeeds.
        """
        data_info = self.get_data_info(idx)
        self.worker_board.mark(data_info.get('filename',
                                             data_info.get('frame_dir', '')))
        try:
            data = self.pipeline(data_info)
        except VideoReadError as err:
            if self.test_mode:
                raise
            self._pending_bad.append((str(err.path), str(err.reason)))
            return None
        finally:
            self.worker_board.clear()
        if data is not None and self._pending_bad:
            self._attach_bad(data, self._pending_bad)
            self._pending_bad = []
        return data

    def __getitem__(self, idx: int) -> Any:
        try:
            return super().__getitem__(idx)
        except Exception as err:
            # only mmengine's "Cannot find valid image after N" (every refetch
            # was unreadable) is rephrased; other errors surface unchanged
            if (self.test_mode or not self._pending_bad
                    or 'Cannot find valid' not in str(err)):
                self._pending_bad = []
                raise
            bad, self._pending_bad = self._pending_bad, []
            path, reason = bad[-1]
            raise RuntimeError(
                f'{len(bad)} videos in a row could not be read (max_refetch='
                f'{self.max_refetch}); last: {path}: {reason}. Check '
                f'data_prefix={self.data_prefix!r} and the video files.'
            ) from err

    @staticmethod
    def _attach_bad(data: Any, bad: List[tuple]) -> None:
        """Record failures in the packed sample's metainfo.

        Without a packed ``data_samples`` (a pipeline that does not end in
        ``PackActionInputs``) they cannot travel with the batch, so they are
        logged here, in the loading process, instead.
        """
        sample = data.get('data_samples') if isinstance(data, dict) else None
        if sample is not None and hasattr(sample, 'set_metainfo'):
            sample.set_metainfo({BAD_VIDEOS_KEY: list(bad)})
            return
        for path, reason in bad:
            print_log(f'skipped unreadable video {path}: {reason}',
                      logger='current', level=logging.WARNING)


@DATASETS.register_module()
class SeCoVideoDataset(SkipUnreadableMixin, BaseActionDataset):
    """Videos for SeCo pretraining; labels are optional and unused.

    Three ways to name the videos:
      - ``ann_file`` with mmaction2 ``VideoDataset`` lines
        (``relative/path.mp4 label``): labels are kept but not needed;
      - ``ann_file`` with one path per line (no labels);
      - ``ann_file=''`` and ``data_prefix=dict(video=FOLDER)``: every file
        under FOLDER with a video extension, recursively.

    Produces ``dict(filename=<absolute path>[, label])`` per video.

    ``ROOT`` may be a URL (``http(s)://``, ``s3://``): the open transform
    reads it through mmengine's fileio; folder mode needs a local ROOT.
    Folder mode logs how many videos it found.

    Unreadable videos (missing, empty, not a video, truncated, an edit list,
    fewer frames than SeCo needs: anything the pipeline raises as
    :class:`~seco_mm.datasets.transforms.VideoReadError`) are skipped in
    training, counted and limited: see :class:`SkipUnreadableMixin`.

    Args:
        ann_file (str): annotation list, or '' to scan ``data_prefix``.
        pipeline (list): the SeCo pipeline.
        data_prefix (dict): ``dict(video=ROOT)``, prefixed to list paths.
        extensions (Sequence[str]): extensions scanned in folder mode.
        max_bad_fraction (float): stop training when more than this
            fraction of the fetched samples were unreadable (read by
            ``SeCoBadSampleHook``). Defaults to 0.01.
        bad_check_min_samples (int): the fraction is only checked once this
            many samples were fetched. Defaults to 1000.
    """

    def __init__(self, ann_file: str = '', pipeline: list = (),
                 data_prefix: dict = dict(video=''),
                 extensions: Sequence[str] = VIDEO_EXTENSIONS,
                 max_bad_fraction: float = 0.01,
                 bad_check_min_samples: int = 1000,
                 **kwargs):
        self.extensions = tuple(e.lower() for e in extensions)
        self._init_skipping(max_bad_fraction, bad_check_min_samples)
        super().__init__(ann_file, pipeline=list(pipeline),
                         data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_prefix.get('video', '') or ''
        if self.ann_file:
            items = parse_video_list(self.ann_file)
            source = self.ann_file
        else:
            if root and not is_local_path(root):
                raise ValueError(f'folder mode (ann_file=\'\') needs a local '
                                 f'folder, got data_prefix.video={root!r}: '
                                 'give an annotation list for remote videos')
            items = [dict(filename=p)
                     for p in scan_videos(root, self.extensions)]
            source = f'folder {root}'
            print_log(f'{type(self).__name__}: found {len(items)} videos '
                      f'under {root}', logger='current', level=logging.INFO)
        if not items:
            raise ValueError(f'no videos found in {source}')
        for item in items:
            item['filename'] = osp.join(root, item['filename'])
        return items
