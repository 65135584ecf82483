"""Frozen-backbone frame features for the linear probe, streamed to disk.

Per video, the probe needs the pooled last-stage feature of each of T
uniformly spaced frames: (T, C). For Kinetics-400 train that is
240k x 30 x 2048 values per backbone (59 GB as float32), so features are
never held for a whole split: :class:`FeatureCache` writes each batch's rows
into a ``.npy`` file on disk (readable with ``np.load(mmap_mode='r')``) and
marks them done in a per-video state file, so a killed or crashed run resumes
where it stopped. Pooling (:func:`pool_cache`) reads the cache back in chunks.

Batches mix videos (``videos_per_batch`` x T frames per forward), come from a
``DataLoader`` with workers, are normalised by mmaction2's
``ActionDataPreprocessor`` (on the target device) after mmengine's
``pseudo_collate``, and run on any device with optional autocast (bf16 on
CPU, fp16 on CUDA) and channels-last memory format.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from seco_mm.datasets.transforms.video_reader import VideoReadError

from .probe_data import BadVideo, ProbeVideoDataset

__all__ = ['MEAN', 'STD', 'POOLINGS', 'POOLING_TEXT', 'FeatureCache',
           'ExtractionSettings', 'extract_features', 'extract_to_caches',
           'pool_cache', 'temporal_pool', 'amp_dtype']

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
POOLING_TEXT = {  # pooling -> how the protocol JSON describes it
    'mean': 'averaged over frames',
    'mean+diff': 'averaged over frames, concatenated with the mean absolute '
                 'difference of consecutive sampled frames (2x the dim)',
}
POOLINGS = tuple(POOLING_TEXT)

# state file values, one per video of the list
TODO, DONE, BAD = 0, 1, 2


def temporal_pool(frame_feats: np.ndarray,
                  pooling: str = 'mean') -> np.ndarray:
    """Per-video descriptor from per-frame features, computed in float32.

    Args:
        frame_feats: (N, T, C) pooled features of T uniformly spaced frames
            (float16 or float32).
        pooling: ``'mean'``: (N, C), the frame average (the paper's linear
            protocol); ``'mean+diff'``: (N, 2C), the frame average next to
            the mean absolute change between consecutive sampled frames,
            ``mean_t |f[t+1] - f[t]|``, so a linear classifier can also see
            how much, and in which feature channels, a video changes in time.
    """
    if frame_feats.ndim != 3:
        raise ValueError(f'expected (N, T, C) frame features, got shape '
                         f'{frame_feats.shape}')
    x = np.asarray(frame_feats, dtype=np.float32)
    if pooling == 'mean':
        return x.mean(axis=1)
    if pooling == 'mean+diff':
        if x.shape[1] < 2:
            raise ValueError("pooling 'mean+diff' needs at least 2 frames "
                             'per video')
        change = np.abs(np.diff(x, axis=1)).mean(axis=1)
        return np.concatenate([x.mean(axis=1), change], axis=1)
    raise ValueError(f'pooling must be one of {POOLINGS}, got {pooling!r}')


class FeatureCache:
    """Per-frame features of one (backbone, split, protocol), on disk.

    Files in ``folder``:

    - ``frame_feats.npy``: (N, T, C) in ``dtype`` (a normal .npy, written
      row by row at its offset; rows of videos not done yet are zeros);
    - ``state.npy``: (N,) uint8, 0 = to do, 1 = done, 2 = bad video;
    - ``bad_videos.json``: ``[{index, path, reason}]`` of the bad videos;
    - ``meta.json``: what the cache holds (for people; the folder name is
      the fingerprint of the protocol).

    Rows are written and synced before their state flips to done, so after a
    kill at any point a done row holds its final features. C is known only
    after the first forward: the files are created then (:meth:`ensure`).
    """

    def __init__(self, folder: str, num_videos: int, num_frames: int,
                 dtype: str = 'float32', meta: Optional[dict] = None):
        if dtype not in ('float16', 'float32'):
            raise ValueError(f'cache dtype must be float16 or float32, got '
                             f'{dtype!r}')
        self.folder, self.n, self.t = folder, num_videos, num_frames
        self.dtype = np.dtype(dtype)
        self.meta = dict(meta or {})
        self.feat_path = osp.join(folder, 'frame_feats.npy')
        self.state_path = osp.join(folder, 'state.npy')
        self.bad_path = osp.join(folder, 'bad_videos.json')
        self.dim = None
        self._offset = None
        self.state = np.zeros(num_videos, np.uint8)
        self.bad: List[dict] = []
        if osp.isfile(self.feat_path) and osp.isfile(self.state_path):
            self._open_existing()

    # -- files ---------------------------------------------------------------
    def _open_existing(self) -> None:
        feats = np.load(self.feat_path, mmap_mode='r')
        state = np.load(self.state_path)
        if (feats.shape[:2] != (self.n, self.t) or feats.dtype != self.dtype
                or state.shape != (self.n, )):
            raise ValueError(
                f'{self.folder}: cached features {feats.shape} '
                f'{feats.dtype} do not match this run ({self.n} videos x '
                f'{self.t} frames, {self.dtype}); delete the folder')
        self.dim = int(feats.shape[2])
        self._offset = int(feats.offset)
        del feats
        self.state = state.copy()
        if osp.isfile(self.bad_path):
            with open(self.bad_path) as f:
                self.bad = json.load(f)

    def ensure(self, dim: int) -> None:
        """Create the files for C = ``dim`` unless they exist."""
        if self.dim is not None:
            if dim != self.dim:
                raise ValueError(f'{self.folder}: cached feature dim '
                                 f'{self.dim}, backbone gives {dim}')
            return
        os.makedirs(self.folder, exist_ok=True)
        arr = np.lib.format.open_memmap(self.feat_path, mode='w+',
                                        dtype=self.dtype,
                                        shape=(self.n, self.t, dim))
        self._offset = int(arr.offset)
        arr.flush()
        del arr  # sparse file of zeros; rows are written with pwrite
        if self.bad:
            self._save_bad()
        np.save(self.state_path, self.state)
        self.dim = dim
        with open(osp.join(self.folder, 'meta.json'), 'w') as f:
            json.dump(dict(self.meta, shape=[self.n, self.t, dim],
                           dtype=self.dtype.name), f, indent=1, default=str)

    def _write_state(self, indices: Sequence[int]) -> None:
        # state.npy is a 1-D uint8 array: byte i lives at header + i
        header = os.path.getsize(self.state_path) - self.n
        fd = os.open(self.state_path, os.O_WRONLY)
        try:
            for i in indices:
                os.pwrite(fd, bytes([int(self.state[i])]), header + int(i))
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- filling -------------------------------------------------------------
    @property
    def todo(self) -> np.ndarray:
        return np.flatnonzero(self.state == TODO)

    @property
    def complete(self) -> bool:
        return self.dim is not None and not np.any(self.state == TODO)

    def write(self, indices: Sequence[int], feats: np.ndarray) -> None:
        """Store (B, T, C) features of videos ``indices``; mark them done."""
        self.ensure(feats.shape[2])
        rows = np.ascontiguousarray(feats, dtype=self.dtype)
        row_bytes = self.t * self.dim * self.dtype.itemsize
        fd = os.open(self.feat_path, os.O_WRONLY)
        try:
            for i, row in zip(indices, rows):
                os.pwrite(fd, row.tobytes(), self._offset + int(i) * row_bytes)
            os.fsync(fd)  # features on disk before the state says so
        finally:
            os.close(fd)
        self.state[list(indices)] = DONE
        self._write_state(indices)

    def mark_bad(self, bad: BadVideo) -> None:
        """Record a video that gave no sample (kept across reruns)."""
        self.bad.append(dict(index=bad.index, path=bad.path,
                             reason=bad.reason))
        self.state[bad.index] = BAD
        if self.dim is not None:  # else the files are created with C
            self._save_bad()
            self._write_state([bad.index])

    def _save_bad(self) -> None:
        tmp = self.bad_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.bad, f, indent=1)
        os.replace(tmp, self.bad_path)

    # -- reading -------------------------------------------------------------
    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as an in-memory (n, T, C) array."""
        count = (stop - start) * self.t * self.dim
        with open(self.feat_path, 'rb') as f:
            f.seek(self._offset + start * self.t * self.dim *
                   self.dtype.itemsize)
            flat = np.fromfile(f, dtype=self.dtype, count=count)
        return flat.reshape(stop - start, self.t, self.dim)


def pool_cache(cache: FeatureCache, pooling: str = 'mean',
               rows: Optional[np.ndarray] = None,
               chunk: int = 256) -> Tuple[np.ndarray, np.ndarray]:
    """Pooled descriptors, reading ``chunk`` videos at a time.

    Args:
        rows: sorted video indices to pool (all must be done); default all
            done videos.

    Returns:
        tuple: (indices (M,), features (M, D) float32).
    """
    done = np.flatnonzero(cache.state == DONE)
    rows = done if rows is None else np.asarray(rows, np.int64)
    if cache.dim is None or not np.all(cache.state[rows] == DONE):
        raise ValueError(f'{cache.folder}: some of the requested videos are '
                         'not extracted')
    out = []
    for start in range(0, cache.n, chunk):
        stop = min(start + chunk, cache.n)
        keep = rows[(rows >= start) & (rows < stop)] - start
        if len(keep):
            out.append(temporal_pool(cache.read(start, stop)[keep], pooling))
    if not out:
        return rows, np.zeros((0, 0), np.float32)
    return rows, np.concatenate(out)


def amp_dtype(device: torch.device, amp: bool) -> Optional[torch.dtype]:
    """Autocast dtype: bfloat16 on CPU, float16 on CUDA, None when off."""
    if not amp:
        return None
    return torch.float16 if device.type == 'cuda' else torch.bfloat16


class ExtractionSettings:
    """How features are computed (not what): device, precision, batching.

    Args:
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
        amp: autocast the backbone (bf16 on CPU, fp16 on CUDA); pooled
            features are accumulated and stored from float32.
        channels_last: run the backbone in NHWC memory format.
        videos_per_batch: videos per forward (x T frames).
        num_workers: DataLoader processes decoding videos.
        on_bad_video: ``'skip'`` (record and go on) or ``'stop'`` (raise
            :class:`VideoReadError` naming the file).
        progress: draw a progress bar over videos (off for batch jobs).
    """

    def __init__(self, device: str = 'cpu', amp: bool = False,
                 channels_last: bool = False, videos_per_batch: int = 4,
                 num_workers: int = 0, on_bad_video: str = 'skip',
                 progress: bool = True):
        if on_bad_video not in ('skip', 'stop'):
            raise ValueError(f"on_bad_video must be 'skip' or 'stop', got "
                             f'{on_bad_video!r}')
        self.device = torch.device(device)
        if self.device.type == 'cuda' and not torch.cuda.is_available():
            raise ValueError(f'--device {device}: CUDA is not available')
        self.amp, self.channels_last = amp, channels_last
        self.videos_per_batch, self.num_workers = videos_per_batch, num_workers
        self.on_bad_video = on_bad_video
        self.progress = progress

    def numerics(self) -> dict:
        """What changes the numbers (part of the cache fingerprint)."""
        dt = amp_dtype(self.device, self.amp)
        return dict(amp=str(dt).replace('torch.', '') if dt else 'off',
                    channels_last=self.channels_last)

    def describe(self) -> dict:
        return dict(self.numerics(), device=str(self.device),
                    videos_per_batch=self.videos_per_batch,
                    num_workers=self.num_workers,
                    on_bad_video=self.on_bad_video)


def _collate(batch: List[tuple]) -> Tuple[List[int], Optional[dict],
                                          List[BadVideo]]:
    """(index, sample | BadVideo) items -> (indices, pseudo-collated good
    samples or None, bad records)."""
    from mmengine.dataset import pseudo_collate
    good = [(i, s) for i, s in batch if not isinstance(s, BadVideo)]
    bad = [s for _, s in batch if isinstance(s, BadVideo)]
    data = pseudo_collate([s for _, s in good]) if good else None
    return [i for i, _ in good], data, bad


def _preprocessor(device: torch.device):
    from mmaction.models import ActionDataPreprocessor
    return ActionDataPreprocessor(mean=MEAN, std=STD,
                                  format_shape='NCHW').to(device)


@torch.no_grad()
def _forward(backbone: nn.Module, frames: torch.Tensor,
             settings: ExtractionSettings) -> np.ndarray:
    """frames: (B, T, 3, S, S) normalised -> (B, T, C) float32 numpy."""
    b, t = frames.shape[:2]
    x = frames.flatten(0, 1)
    if settings.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    dt = amp_dtype(settings.device, settings.amp)
    with torch.autocast(settings.device.type, dtype=dt or torch.float32,
                        enabled=dt is not None):
        out = backbone(x)
    if isinstance(out, (tuple, list)):
        out = out[-1]
    pooled = out.float().mean(dim=(2, 3))  # (B*T, C) global average pool
    return pooled.view(b, t, -1).cpu().numpy()


def _prepare(backbones: Dict[str, nn.Module], settings: ExtractionSettings):
    for m in backbones.values():
        m.to(settings.device)
        if settings.channels_last:
            m.to(memory_format=torch.channels_last)
        m.eval()


def _batches(dataset: ProbeVideoDataset, indices: Sequence[int],
             settings: ExtractionSettings):
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, list(indices)),
        batch_size=settings.videos_per_batch, shuffle=False,
        num_workers=settings.num_workers, collate_fn=_collate,
        pin_memory=settings.device.type == 'cuda')
    preprocess = _preprocessor(settings.device)
    for idx, data, bad in loader:
        frames = preprocess(data)['inputs'] if data is not None else None
        yield idx, frames, bad


def _stop(bad: BadVideo):
    raise VideoReadError(bad.path, f'{bad.reason} (stopped: --on-bad-video '
                         'stop; features extracted so far are cached)')


def extract_to_caches(backbones: Dict[str, nn.Module],
                      caches: Dict[str, FeatureCache],
                      dataset: ProbeVideoDataset,
                      settings: ExtractionSettings) -> None:
    """Fill every cache's to-do rows; decode each video once for all.

    Args:
        backbones / caches: same keys; a backbone whose cache is complete is
            not run.
    """
    from mmengine.utils import ProgressBar

    todo = sorted(set().union(*(c.todo.tolist() for c in caches.values())))
    if not todo:
        return
    _prepare(backbones, settings)
    bar = ProgressBar(len(todo)) if settings.progress else None
    for idx, frames, bad in _batches(dataset, todo, settings):
        if idx:
            for name, m in backbones.items():
                need = caches[name].state[idx] == TODO
                if need.any():
                    sel = np.flatnonzero(need)
                    feats = _forward(m, frames[torch.as_tensor(sel)], settings)
                    caches[name].write([idx[k] for k in sel], feats)
        for b in bad:
            if settings.on_bad_video == 'stop':
                _stop(b)
            for c in caches.values():
                if c.state[b.index] == TODO:
                    c.mark_bad(b)
        if bar is not None:
            bar.update(len(idx) + len(bad))
    print()


def extract_features(backbones: Dict[str, nn.Module],
                     dataset: ProbeVideoDataset, videos_per_batch: int = 4,
                     num_workers: int = 0,
                     settings: Optional[ExtractionSettings] = None
                     ) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """In-memory per-frame features of a small split (tests, notebooks).

    Large splits go through :func:`extract_to_caches` instead. Any bad video
    raises :class:`VideoReadError` here.

    Returns:
        tuple: ({name: (N, T, C) float32}, labels (N,) int64).
    """
    settings = settings or ExtractionSettings(
        videos_per_batch=videos_per_batch, num_workers=num_workers,
        on_bad_video='stop')
    _prepare(backbones, settings)
    feats = {name: [] for name in backbones}
    for _, frames, bad in _batches(dataset, range(len(dataset)), settings):
        if bad:
            _stop(bad[0])
        for name, m in backbones.items():
            feats[name].append(_forward(m, frames, settings))
    return ({k: np.concatenate(v).astype(np.float32) for k, v in feats.items()},
            dataset.labels())
