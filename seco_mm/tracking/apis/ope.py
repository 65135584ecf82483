"""One-pass evaluation (OPE) run: track every sequence from its first box."""
import time
from typing import Dict, Iterable, List, Optional

import numpy as np
import torch
from mmengine.utils import ProgressBar

from ..datasets.transforms import read_rgb

__all__ = ['track_sequence', 'run_ope', 'static_box_predictions', 'total_fps']


def track_sequence(model, seq: Dict, bar: Optional[ProgressBar] = None
                   ) -> Dict:
    """Run ``model.init`` on frame 0 and ``model.track`` on the others.

    Args:
        model: a tracker with ``init(img, bbox)`` and ``track(img)``.
        seq: ``video_name``, ``frame_paths`` (N), ``gt_bboxes`` (N, 4).
        bar: an mmengine ``ProgressBar`` to advance once per frame.

    Returns:
        dict: ``video_name``, ``pred_bboxes`` (N, 4) ``(x, y, w, h)`` with
        frame 0 = the given box (OTB convention), ``scores`` (N,),
        ``num_frames``, ``seconds`` (wall time of reading + tracking).
    """
    frames = seq['frame_paths']
    gt = np.asarray(seq['gt_bboxes'], dtype=np.float64)
    if len(frames) != len(gt):
        raise ValueError(f"{seq['video_name']}: {len(frames)} frames but "
                         f'{len(gt)} boxes')
    preds = np.zeros((len(frames), 4))
    scores = np.zeros(len(frames))
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for i, path in enumerate(frames):
            img = read_rgb(path)
            if i == 0:
                model.init(img, gt[0])
                preds[0], scores[0] = gt[0], 1.0
            else:
                preds[i], scores[i] = model.track(img)
            if bar is not None:
                bar.update()
    seconds = time.perf_counter() - start
    model.train(was_training)
    return dict(
        video_name=seq['video_name'],
        pred_bboxes=preds,
        scores=scores,
        num_frames=len(frames),
        seconds=seconds)


def run_ope(model, sequences: Iterable[Dict], progress: bool = True,
            logger=None) -> List[Dict]:
    """Track all sequences, with one progress bar over all their frames.

    Returns:
        list[dict]: :func:`track_sequence` results plus ``gt_bboxes``.
    """
    sequences = list(sequences)
    bar = None
    if progress:
        total = sum(len(s['frame_paths']) for s in sequences)
        print(f'tracking {len(sequences)} sequences, {total} frames '
              '(task/s = frames per second)', flush=True)
        bar = ProgressBar(total)
    results = []
    for seq in sequences:
        res = track_sequence(model, seq, bar=bar)
        res['gt_bboxes'] = np.asarray(seq['gt_bboxes'], dtype=np.float64)
        results.append(res)
        if logger is not None:
            logger.info(f"{seq['video_name']}: {res['num_frames']} frames, "
                        f"{res['num_frames'] / res['seconds']:.1f} fps")
    if bar is not None:
        bar.file.write('\n')
        bar.file.flush()
    return results


def static_box_predictions(seq: Dict) -> np.ndarray:
    """The no-motion baseline: the first box repeated, (N, 4)."""
    gt = np.asarray(seq['gt_bboxes'], dtype=np.float64)
    return np.repeat(gt[:1], len(gt), axis=0)


def total_fps(results: List[Dict]) -> Optional[float]:
    """Frames per second over all sequences (reading + tracking)."""
    frames = sum(r['num_frames'] for r in results)
    secs = sum(r['seconds'] for r in results)
    return frames / secs if secs > 0 else None

