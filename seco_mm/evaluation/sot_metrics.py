"""One-pass evaluation (OPE) metrics of single object tracking (OTB-100).

The definitions follow the OTB toolkit and mmtracking's ``eval_sot_ope``:

* boxes are ``(x, y, w, h)``; for overlap and centres they are read as the
  continuous rectangle ``[x, x + w] x [y, y + h]`` (the same convention for the
  ground truth and the prediction, so a 1-based origin does not matter);
* success curve: for each IoU threshold ``t`` in ``0, 0.05, ..., 1.0`` (21
  points) the fraction of frames with ``IoU > t`` (strictly greater, so a
  perfect tracker scores 0 at ``t = 1`` and its AUC is 20/21);
  success (AUC) = mean of the curve;
* precision curve: for each threshold ``d`` in ``0, 1, ..., 50`` px the
  fraction of frames whose centre error is ``<= d``; precision = value at
  20 px;
* normalised precision: the same on centre errors divided by the ground-truth
  width/height, thresholds ``d / 100``; reported at index 20 (0.2);
* frames with an invalid ground truth stay in the denominator
  (mmtracking's ``only_eval_visible=False``). As in the OTB toolkit and
  mmtracking, such a frame gets IoU -1 (a failure at every threshold) when the
  gt w or h is <= 0, and centre error -1 (a success at every threshold) when
  the gt centre is not > 0 in both coordinates (target absent);
* dataset values are means over sequences of the per-sequence values, x100.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmaction.registry import METRICS

__all__ = [
    'IOU_THRESHOLDS', 'PIXEL_THRESHOLDS', 'bbox_iou_xywh', 'success_curve',
    'precision_curve', 'normalized_precision_curve', 'eval_sequence_ope',
    'eval_ope', 'SOTOPEMetric'
]

IOU_THRESHOLDS = np.linspace(0, 1, 21)  # 0, 0.05, ..., 1.0 (exact endpoints)
PIXEL_THRESHOLDS = np.arange(0, 51, dtype=np.float64)  # 0 .. 50 px
PRECISION_INDEX = 20  # 20 px, or 0.2 for the normalised precision


def _as_boxes(boxes, name: str) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'{name} must have shape (N, 4) in (x, y, w, h), '
                         f'got {boxes.shape}')
    return boxes


def _check_lengths(gt: np.ndarray, pred: np.ndarray) -> None:
    if len(gt) != len(pred):
        raise ValueError(f'{len(pred)} predicted boxes for {len(gt)} frames')


def _valid(gt: np.ndarray) -> np.ndarray:
    return (gt[:, 2] > 0) & (gt[:, 3] > 0)


def bbox_iou_xywh(gt, pred) -> np.ndarray:
    """Row-wise IoU of two box arrays.

    Args:
        gt, pred: (N, 4) boxes ``(x, y, w, h)``.

    Returns:
        np.ndarray: (N,) IoU in [0, 1]; -1 where the ground truth is invalid.
    """
    gt, pred = _as_boxes(gt, 'gt'), _as_boxes(pred, 'pred')
    _check_lengths(gt, pred)
    pw, ph = np.clip(pred[:, 2], 0, None), np.clip(pred[:, 3], 0, None)
    ix = np.minimum(gt[:, 0] + gt[:, 2], pred[:, 0] + pw) - np.maximum(
        gt[:, 0], pred[:, 0])
    iy = np.minimum(gt[:, 1] + gt[:, 3], pred[:, 1] + ph) - np.maximum(
        gt[:, 1], pred[:, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    union = gt[:, 2] * gt[:, 3] + pw * ph - inter
    iou = np.full(len(gt), -1.0)
    valid = _valid(gt)
    iou[valid] = inter[valid] / np.maximum(union[valid], 1e-12)
    return np.clip(iou, -1.0, 1.0)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2.0


def _centre_errors(gt: np.ndarray, pred: np.ndarray,
                   normalise: bool) -> np.ndarray:
    """(N,) centre distances; -1 where the gt centre is not > 0 (toolkit rule).

    With ``normalise`` the offsets are divided by the gt (w, h) first; a gt
    with w or h <= 0 then gives an infinite error (a failure).
    """
    gc, pc = _centres(gt), _centres(pred)
    diff = gc - pc
    if normalise:
        wh = gt[:, 2:]
        ok = (wh > 0).all(axis=1)
        diff = np.where(ok[:, None], diff / np.where(wh > 0, wh, 1.0), np.inf)
    err = np.linalg.norm(diff, axis=1)
    err[~((gc > 0).all(axis=1))] = -1.0
    return err


def _threshold_curve(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(T,) fraction of frames with ``error <= t`` for each threshold."""
    return (errors[None, :] <= thresholds[:, None]).mean(axis=1)


def success_curve(gt, pred, thresholds=IOU_THRESHOLDS) -> np.ndarray:
    """(T,) fraction of frames with IoU strictly above each threshold."""
    iou = bbox_iou_xywh(gt, pred)
    return (iou[None, :] > np.asarray(thresholds)[:, None]).mean(axis=1)


def precision_curve(gt, pred, thresholds=PIXEL_THRESHOLDS) -> np.ndarray:
    """(T,) fraction of frames with centre error (px) <= each threshold."""
    gt, pred = _as_boxes(gt, 'gt'), _as_boxes(pred, 'pred')
    _check_lengths(gt, pred)
    err = _centre_errors(gt, pred, normalise=False)
    return _threshold_curve(err, np.asarray(thresholds, dtype=np.float64))


def normalized_precision_curve(gt, pred,
                               thresholds=PIXEL_THRESHOLDS / 100.0
                               ) -> np.ndarray:
    """(T,) same as :func:`precision_curve` on errors divided by gt (w, h)."""
    gt, pred = _as_boxes(gt, 'gt'), _as_boxes(pred, 'pred')
    _check_lengths(gt, pred)
    err = _centre_errors(gt, pred, normalise=True)
    return _threshold_curve(err, np.asarray(thresholds, dtype=np.float64))


def eval_sequence_ope(gt, pred) -> Dict[str, object]:
    """OPE numbers of one sequence (fractions in [0, 1], not x100).

    Returns:
        dict: ``success`` (AUC), ``precision`` (20 px), ``norm_precision``
        (0.2), and the curves ``success_curve`` (21,), ``precision_curve``
        (51,), ``norm_precision_curve`` (51,).
    """
    s = success_curve(gt, pred)
    p = precision_curve(gt, pred)
    n = normalized_precision_curve(gt, pred)
    return dict(
        success=float(s.mean()),
        precision=float(p[PRECISION_INDEX]),
        norm_precision=float(n[PRECISION_INDEX]),
        success_curve=s,
        precision_curve=p,
        norm_precision_curve=n)


def eval_ope(gts: Sequence, preds: Sequence,
             names: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """OPE over a dataset: per-sequence values and their means (x100).

    Args:
        gts, preds: per sequence, (N_i, 4) boxes ``(x, y, w, h)``.
        names: sequence names (default ``seq0``, ``seq1``, ...).

    Returns:
        dict: ``success``, ``precision``, ``norm_precision`` (means x100),
        ``success_curve`` (21,) / ``precision_curve`` (51,) /
        ``norm_precision_curve`` (51,) means x100, ``iou_thresholds``,
        ``pixel_thresholds`` and ``per_sequence`` {name: numbers x100}.
    """
    if len(gts) != len(preds):
        raise ValueError(f'{len(preds)} predicted sequences for {len(gts)}')
    if len(gts) == 0:
        raise ValueError('no sequences to evaluate')
    names = list(names) if names is not None else [
        f'seq{i}' for i in range(len(gts))
    ]
    per_seq, curves = {}, {k: [] for k in ('success_curve', 'precision_curve',
                                           'norm_precision_curve')}
    for name, gt, pred in zip(names, gts, preds):
        r = eval_sequence_ope(gt, pred)
        for k in curves:
            curves[k].append(r[k])
        per_seq[name] = dict(
            success=100 * r['success'],
            precision=100 * r['precision'],
            norm_precision=100 * r['norm_precision'],
            num_frames=int(len(gt)))
    mean_curves = {k: 100 * np.mean(v, axis=0) for k, v in curves.items()}
    return dict(
        success=float(mean_curves['success_curve'].mean()),
        precision=float(mean_curves['precision_curve'][PRECISION_INDEX]),
        norm_precision=float(
            mean_curves['norm_precision_curve'][PRECISION_INDEX]),
        iou_thresholds=IOU_THRESHOLDS,
        pixel_thresholds=PIXEL_THRESHOLDS,
        per_sequence=per_seq,
        **mean_curves)


@METRICS.register_module()
class SOTOPEMetric(BaseMetric):
    """mmengine metric wrapping :func:`eval_ope` (OTB one-pass evaluation).

    ``process`` expects one data sample per whole sequence with keys
    ``video_name``, ``gt_bboxes`` (N, 4) and ``pred_bboxes`` (N, 4), both
    ``(x, y, w, h)``. ``compute_metrics`` returns ``success``, ``precision``
    and ``norm_precision`` (x100), prefixed ``sot/`` by mmengine.
    """
    default_prefix: Optional[str] = 'sot'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key in ('video_name', 'gt_bboxes', 'pred_bboxes'):
                if key not in sample:
                    raise KeyError(f'SOTOPEMetric: data sample lacks {key!r}')
            self.results.append(
                (sample['video_name'], np.asarray(sample['gt_bboxes']),
                 np.asarray(sample['pred_bboxes'])))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        names, gts, preds = zip(*results)
        res = eval_ope(gts, preds, names)
        MMLogger.get_current_instance().info(
            f"OPE over {len(names)} sequences: success {res['success']:.2f} "
            f"precision {res['precision']:.2f} "
            f"norm_precision {res['norm_precision']:.2f}")
        return {k: res[k] for k in ('success', 'precision', 'norm_precision')}
