"""Write the whole demo data set: labelled clips, annotation lists, OTB folder.

Layout under ``out`` (the project-wide contract, see the README)::

    videos/<class_name>/<clip_id>.mp4   clips: S x S RGB, T frames, 25 fps
    train.txt, val.txt                  '<class_name>/<clip_id>.mp4 <label>'
    classes.txt                         one class name per line, label = index
    otb/<Seq>/img/0001.jpg ...          tracking frames (JPEG)
    otb/<Seq>/groundtruth_rect.txt      'x,y,w,h' per frame, 1-based
    otb/otb100_infos.txt                mmtracking's sequence list
    meta.json                           the generator settings

Determinism: every clip and sequence draws from its own generator
``np.random.default_rng([seed, split, index])``, so its content depends only
on (seed, split, index, size, frames) -- not on the number of clips, on the
order of rendering or on the number of worker processes. Labels cycle
through the classes (clip i has label i mod C), so the classes are balanced
exactly when the clip count is a multiple of C and within one otherwise.
On one machine the same settings give byte-identical files (OpenCV's mp4v
encoder and JPEG writer are deterministic); another FFmpeg build decoding
the source clips may differ in the last bits.
"""
import json
import multiprocessing
import os
import os.path as osp
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.utils import ProgressBar

from .action_clips import class_names, render_clip, sample_clip
from .sources import SOURCE_CLIPS, FramePool, load_frame_pool
from .tracking_sequences import SEQUENCE_NAMES, render_sequence
from .writers import (write_lines, write_mp4, write_otb_infos,
                      write_otb_sequence)

__all__ = [
    'DemoDataConfig', 'check_config', 'generate_demo_data', 'SPLIT_SEEDS',
    'META_FILE'
]

# Random stream of each split. Val uses stream 3: the demo's data design was
# chosen by probing a val set drawn from stream 1 (docs/demo.md, "History"),
# so the val set that the reported figures use is one no choice was made on.
SPLIT_SEEDS = {'train': 0, 'val': 3, 'tracking': 2}
META_FILE = 'meta.json'
# Written into meta.json to recognise an earlier demo set; the value is the
# generator's original module path, kept so existing sets stay recognised.
GENERATOR_ID = 'seco_mm.datasets.demo'
_OWN_OUTPUTS = ('videos', 'otb', 'train.txt', 'val.txt', 'classes.txt',
                META_FILE)


@dataclass
class DemoDataConfig:
    """Settings of one demo data set (the CLI flags of make_demo_data.py)."""
    out: str = 'data/demo'
    seed: int = 0
    num_train: int = 300  # 30 per class
    num_val: int = 250  # 25 per class: one val clip is 0.4 % of top-1
    frames: int = 48
    size: int = 128
    num_tracking_frames: int = 80
    fps: float = 25.0
    workers: int = 1


def check_config(cfg: DemoDataConfig) -> None:
    """Raise ValueError naming the first bad setting."""

    def need(ok, flag, rule, value):
        if not ok:
            raise ValueError(f'--{flag} must be {rule}, got {value!r}')

    for name in ('seed', 'num_train', 'num_val', 'frames', 'size',
                 'num_tracking_frames', 'workers'):
        value = getattr(cfg, name)
        need(
            isinstance(value,
                       (int, np.integer)) and not isinstance(value, bool),
            name.replace('_', '-'), 'an integer', value)
    need(cfg.seed >= 0, 'seed', '>= 0', cfg.seed)
    need(32 <= cfg.size <= 1024 and cfg.size % 2 == 0, 'size',
         'an even number of pixels in [32, 1024] (mp4v needs even sides)',
         cfg.size)
    need(cfg.frames >= 8, 'frames', '>= 8', cfg.frames)
    need(cfg.num_train >= 1, 'num-train', '>= 1', cfg.num_train)
    need(cfg.num_val >= 1, 'num-val', '>= 1', cfg.num_val)
    need(cfg.num_tracking_frames >= 10, 'num-tracking-frames', '>= 10',
         cfg.num_tracking_frames)
    need(cfg.workers >= 1, 'workers', '>= 1', cfg.workers)
    need(cfg.fps > 0, 'fps', '> 0', cfg.fps)


def _prepare_out(out: str) -> None:
    """Create ``out`` or clear an earlier demo set in it, nothing else."""
    if osp.isdir(out) and os.listdir(out):
        meta = osp.join(out, META_FILE)
        try:
            with open(meta) as f:
                ours = json.load(f).get('generator') == GENERATOR_ID
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise FileExistsError(
                f'{out} is not empty and holds no demo data written by this '
                f'generator (no valid {META_FILE}); pick another --out or '
                'empty it')
        for name in _OWN_OUTPUTS:
            path = osp.join(out, name)
            if osp.isdir(path):
                shutil.rmtree(path)
            elif osp.exists(path):
                os.remove(path)
    os.makedirs(out, exist_ok=True)


# Worker state: the frame pool (set in this process, or per spawned worker).
_STATE: Dict[str, object] = {}


def _init_worker(height: int) -> None:
    """Spawned workers decode their own frame pool (a few seconds)."""
    _STATE['pool'] = load_frame_pool(height)


def _clip_task(task: Tuple[str, int, int, int, str, int, int, float]) -> str:
    """Render and write one clip; returns its annotation line."""
    split, index, label, seed, out, size, frames, fps = task
    pool: FramePool = _STATE['pool']
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], index])
    clip = render_clip(sample_clip(pool, label, rng, size, frames))
    rel = f'{class_names()[label]}/{split}_{index:05d}.mp4'
    write_mp4(osp.join(out, 'videos', rel), clip, fps)
    return f'{rel} {label}'


def _sequence_task(
        task: Tuple[int, str, int, str, int, int]) -> Tuple[str, int]:
    index, name, seed, out, size, frames = task
    rng = np.random.default_rng([seed, SPLIT_SEEDS['tracking'], index])
    seq = render_sequence(_STATE['pool'], name, rng, size, frames)
    write_otb_sequence(osp.join(out, 'otb'), name, seq.frames, seq.boxes)
    return name, frames


def _run(tasks: List, fn, workers: int, bar: ProgressBar) -> List:
    """Map ``fn`` over ``tasks`` in order, in worker processes if asked.

    Workers are spawned, not forked: a child forked from a parent that has
    run decord/OpenCV/torch thread pools can deadlock (seen here: two forked
    workers idle forever at 0 % CPU).
    """
    results = []
    if workers > 1:
        ctx = multiprocessing.get_context('spawn')
        with ctx.Pool(workers, initializer=_init_worker,
                      initargs=(_STATE['pool'].height, )) as procs:
            for res in procs.imap(fn, tasks, chunksize=4):
                results.append(res)
                bar.update()
    else:
        for task in tasks:
            results.append(fn(task))
            bar.update()
    return results


def _disk_usage(path: str) -> int:
    return sum(
        osp.getsize(osp.join(root, f)) for root, _, files in os.walk(path)
        for f in files)


def generate_demo_data(cfg: DemoDataConfig,
                       pool: Optional[FramePool] = None) -> Dict[str, object]:
    """Write the demo data set described by ``cfg``.

    Args:
        cfg (DemoDataConfig): the settings.
        pool (FramePool, optional): source frames decoded at height
            ``2 * cfg.size`` (decoded here when not given; passing one saves
            the decoding when several sets are written in one process).

    Returns:
        dict: summary with the counts, ``seconds`` and ``bytes`` on disk.
    """
    check_config(cfg)
    start = time.time()
    _prepare_out(cfg.out)
    classes = class_names()
    if pool is None:
        pool = load_frame_pool(2 * cfg.size)
    elif pool.height != 2 * cfg.size:
        raise ValueError(f'pool height must be 2 * size = {2 * cfg.size}, '
                         f'got {pool.height}')
    _STATE['pool'] = pool
    try:
        tasks = {
            split: [(split, i, i % len(classes), cfg.seed, cfg.out, cfg.size,
                     cfg.frames, cfg.fps) for i in range(num)]
            for split, num in (('train', cfg.num_train), ('val', cfg.num_val))
        }
        seq_tasks = [(i, name, cfg.seed, cfg.out, cfg.size,
                      cfg.num_tracking_frames)
                     for i, name in enumerate(SEQUENCE_NAMES)]
        total = cfg.num_train + cfg.num_val + len(seq_tasks)
        print(f'Rendering {cfg.num_train} train + {cfg.num_val} val clips and '
              f'{len(seq_tasks)} tracking sequences into {cfg.out}')
        bar = ProgressBar(total)
        lines = {
            s: _run(t, _clip_task, cfg.workers, bar)
            for s, t in tasks.items()
        }
        sequences = _run(seq_tasks, _sequence_task, cfg.workers, bar)
        print()
    finally:
        _STATE.clear()
    write_lines(osp.join(cfg.out, 'classes.txt'), classes)
    for split, split_lines in lines.items():
        write_lines(osp.join(cfg.out, f'{split}.txt'), split_lines)
    write_otb_infos(osp.join(cfg.out, 'otb'), sequences)
    meta = dict(
        generator=GENERATOR_ID,
        version=1,
        classes=classes,
        tracking_sequences=list(SEQUENCE_NAMES),
        source_clips=list(SOURCE_CLIPS),
        **asdict(cfg))
    for key in ('workers', 'out'):  # not part of the content
        meta.pop(key)
    with open(osp.join(cfg.out, META_FILE), 'w') as f:
        json.dump(meta, f, indent=2)
        f.write('\n')
    return dict(
        out=cfg.out,
        num_train=cfg.num_train,
        num_val=cfg.num_val,
        num_classes=len(classes),
        frames=cfg.frames,
        size=cfg.size,
        num_sequences=len(sequences),
        num_tracking_frames=cfg.num_tracking_frames,
        seconds=time.time() - start,
        bytes=_disk_usage(cfg.out))
