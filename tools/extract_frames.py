"""Extract N uniformly spaced frames per video (the reference's t30 data).

The authors of SeCo train on 30 uniformly spaced JPEG frames per video at
short side 256 ("Kinetics_t30_s256"). This writes that data set from an
mmaction2 video list or a video folder::

    python tools/extract_frames.py data/kinetics400/videos_train \\
        data/kinetics400/t30_s256 \\
        --ann-file data/kinetics400/kinetics400_train_list_videos.txt \\
        --workers 16

Output, in mmaction2's rawframe layout:

- ``OUT/<video path without extension>/img_00001.jpg ...`` (``--template
  'frame_{:06}.jpg'`` for the reference's names); frame k is video frame
  ``grid_indices(total, N)[k - 1]`` (the centre of the k-th of N equal
  segments; every frame if the video is shorter);
- ``OUT/frames_list.txt``: ``dir total_frames [label]`` lines in the
  input's order, for ``SeCoRawframeDataset`` / ``RawframeDataset``;
- ``OUT/failures.txt``: ``path<TAB>reason`` of each video that could not
  be read this run (it does not stop the run).

Resumable and atomic: each video is written to ``<dir>.tmp-<pid>`` and
renamed when complete, so a rerun skips every finished folder (a folder
holding frames 1..k with no gap and nothing else), removes leftovers of an
interrupted run and redoes them. Videos are read through the same open /
decode code as training (mmengine fileio: the input may be a URL with
``--ann-file``; edit-list mp4s are refused with a reason).
"""
import argparse
import multiprocessing as mp
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

from seco_mm.datasets.annotation import parse_video_list, scan_videos
from seco_mm.datasets.extraction import check_template, extract_one

LIST_NAME, FAILURES_NAME = 'frames_list.txt', 'failures.txt'


def list_videos(src: str, ann_file: Optional[str]) -> List[dict]:
    """``[dict(video=path, rel_dir=..., label=...)]`` in the input order."""
    if ann_file:
        items = parse_video_list(ann_file)
    else:
        items = [dict(filename=p) for p in scan_videos(src)]
    videos, seen = [], set()
    for item in items:
        rel_dir = osp.splitext(item['filename'])[0]
        if rel_dir in seen:
            continue  # listed twice (or a.mp4 and a.avi): extract once
        seen.add(rel_dir)
        videos.append(dict(video=osp.join(src, item['filename']),
                           rel_dir=rel_dir, label=item.get('label')))
    return videos


def _write_atomic(path: str, lines: List[str]) -> None:
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    os.replace(tmp, path)


def run(src: str, out_root: str, ann_file: Optional[str] = None,
        num_frames: int = 30, short_side: int = 256,
        template: str = 'img_{:05}.jpg', workers: int = 1,
        quality: int = 95, progress: bool = True) -> dict:
    """Extract every video; returns counts and the paths written."""
    check_template(template)
    if num_frames < 1:
        raise ValueError(f'--num-frames must be >= 1, got {num_frames}')
    os.makedirs(out_root, exist_ok=True)
    videos = list_videos(src, ann_file)
    tasks = [dict(video=v['video'], rel_dir=v['rel_dir'], out_root=out_root,
                  template=template, num_frames=num_frames,
                  short_side=short_side, quality=quality) for v in videos]
    results = {}
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(tasks))
    if workers > 1 and len(tasks) > 1:
        # spawn: forked workers can deadlock on decord/OpenCV thread pools
        with mp.get_context('spawn').Pool(workers) as pool:
            for rel_dir, status, value in pool.imap_unordered(
                    extract_one, tasks, chunksize=1):
                results[rel_dir] = (status, value)
                if bar:
                    bar.update()
    else:
        for task in tasks:
            rel_dir, status, value = extract_one(task)
            results[rel_dir] = (status, value)
            if bar:
                bar.update()
    if bar:
        sys.stdout.write('\n')
    lines, failures = [], []
    for v in videos:
        status, value = results[v['rel_dir']]
        if status == 'failed':
            failures.append(f"{v['video']}\t{value}")
            continue
        label = '' if v['label'] is None else ' ' + ' '.join(
            str(x) for x in np.atleast_1d(v['label']))
        lines.append(f"{v['rel_dir']} {value}{label}")
    list_path = osp.join(out_root, LIST_NAME)
    fail_path = osp.join(out_root, FAILURES_NAME)
    _write_atomic(list_path, lines)
    _write_atomic(fail_path, failures)
    counts = {s: sum(1 for st, _ in results.values() if st == s)
              for s in ('done', 'skipped', 'failed')}
    return dict(counts, list=list_path, failures=fail_path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract N uniformly spaced JPEG frames per video '
        '(mmaction2 rawframe layout) plus the frame list.')
    parser.add_argument('src', help='video root folder (or URL prefix with '
                        '--ann-file)')
    parser.add_argument('out', help='output folder')
    parser.add_argument('--ann-file', help='mmaction2 video list (paths '
                        'relative to src); default: every video under src')
    parser.add_argument('--num-frames', type=int, default=30)
    parser.add_argument('--short-side', type=int, default=256,
                        help='resize so the short side is this (0: keep)')
    parser.add_argument('--template', default='img_{:05}.jpg',
                        help="frame file names; the reference's are "
                        "'frame_{:06}.jpg'")
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--quality', type=int, default=95,
                        help='JPEG quality')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = run(args.src, args.out, args.ann_file, args.num_frames,
                      args.short_side, args.template, args.workers,
                      args.quality, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f"extracted {summary['done']}, already done {summary['skipped']}, "
          f"failed {summary['failed']} (reasons in {summary['failures']}); "
          f"frame list: {summary['list']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
