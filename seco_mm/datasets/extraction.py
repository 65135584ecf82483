"""Extracting N uniformly spaced JPEG frames of one video (rawframe layout).

The per-video work of ``tools/extract_frames.py``, importable so that its
spawned worker processes can run it. Frames are chosen by
:func:`~seco_mm.datasets.transforms.grid_indices`, the same frames that
``SeCoSampleIndices(num_grid=N)`` reads from the video.
"""
import glob
import os
import os.path as osp
import shutil
from typing import Tuple

import cv2
import numpy as np

from .transforms.loading import VideoReadError, decord_decode, open_decord
from .transforms.seco_sample_frames import grid_indices

__all__ = ['check_template', 'count_done', 'resize_short_side',
           'extract_one']

DECODE_CHUNK = 8  # frames decoded at once (bounds memory on long HD videos)


def check_template(template: str) -> str:
    """``template.format(1)`` must give a ``.jpg`` name without a folder."""
    try:
        name = template.format(1)
    except (IndexError, KeyError, ValueError) as err:
        raise ValueError(f'--template {template!r} must format one frame '
                         f'number, e.g. img_{{:05}}.jpg ({err})') from None
    if name == template.format(2) or not name.lower().endswith(
            ('.jpg', '.jpeg')) or '/' in name:
        raise ValueError(f'--template {template!r} must give a distinct '
                         '.jpg file name per frame, e.g. img_{:05}.jpg')
    return template


def count_done(folder: str, template: str) -> int:
    """Frames of a finished folder: files ``1..k`` with no gap and nothing
    else; 0 when the folder is missing, empty or damaged."""
    if not osp.isdir(folder):
        return 0
    names = set(os.listdir(folder))
    k = len(names)
    if k == 0 or names != {template.format(i) for i in range(1, k + 1)}:
        return 0
    return k


def resize_short_side(img: np.ndarray, short_side: int) -> np.ndarray:
    """Resize (H, W, 3) so that min(H, W) == short_side (0: unchanged)."""
    h, w = img.shape[:2]
    if short_side <= 0 or min(h, w) == short_side:
        return img
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp)


def extract_one(task: dict) -> Tuple[str, str, object]:
    """Extract one video. Returns ``(rel_dir, status, frames | reason)``,
    status in {'done', 'skipped', 'failed'}."""
    rel_dir, out = task['rel_dir'], osp.join(task['out_root'],
                                             task['rel_dir'])
    template = task['template']
    done = count_done(out, template)
    if done:
        return rel_dir, 'skipped', done
    parent = osp.dirname(out)
    os.makedirs(parent, exist_ok=True)
    for stale in glob.glob(glob.escape(out) + '.tmp-*'):
        shutil.rmtree(stale, ignore_errors=True)  # an interrupted run
    tmp = f'{out}.tmp-{os.getpid()}'
    try:
        reader = open_decord(task['video'], task.get('backend_args'))
        inds = grid_indices(len(reader), task['num_frames'])
        if len(inds) == 0:
            raise VideoReadError(task['video'], 'no frames')
        os.makedirs(tmp)
        params = [cv2.IMWRITE_JPEG_QUALITY, task['quality']]
        for start in range(0, len(inds), DECODE_CHUNK):
            chunk = inds[start:start + DECODE_CHUNK]
            frames = decord_decode(reader, task['video'], chunk)
            for k, frame in enumerate(frames, start=start + 1):
                img = resize_short_side(frame, task['short_side'])
                ok, buf = cv2.imencode('.jpg', img[..., ::-1], params)
                if not ok:
                    raise VideoReadError(task['video'],
                                         f'JPEG encoding of frame {k} failed')
                with open(osp.join(tmp, template.format(k)), 'wb') as f:
                    f.write(buf.tobytes())
        if osp.exists(out):  # a damaged earlier result
            shutil.rmtree(out)
        os.rename(tmp, out)
        return rel_dir, 'done', len(inds)
    except VideoReadError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        return rel_dir, 'failed', err.reason
    except Exception as err:  # never stop the run for one video
        shutil.rmtree(tmp, ignore_errors=True)
        return rel_dir, 'failed', f'{type(err).__name__}: {err}'
