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
* dataset values are means over sequences of the per-sequence values, x100.

Invalid frames follow one of two rule sets (``rules``); every frame stays in
the denominator under both:

``'mmtracking'`` (default; mmtracking's ``eval_sot_ope`` with
``only_eval_visible=False``):
  * IoU is -1 (a failure at every threshold) where the gt w or h is <= 0;
  * the centre error is -1 (a success at every threshold) where the gt
    centre is not > 0 in both coordinates;
  * predictions are scored as given: an empty prediction (NaN, or w/h <= 0)
    is a failure, and frame 1 is the tracker's own output.

``'otb_toolkit'`` (the original OTB MATLAB toolkit, ``calcSeqErrRobust.m``,
for comparing with papers that used it):
  * a frame's gt is valid only if all of x, y, w, h are > 0; an invalid frame
    gets IoU -1 (failure) and centre error -1 (success). So, unlike
    mmtracking, a gt box touching the left or top border (x <= 0 or y <= 0)
    is a failure in the success plot and a success in the precision plot;
  * an empty prediction (all NaN, or w <= 0 or h <= 0) in frames 2..N whose
    gt has no NaN is replaced by the previous (already replaced) prediction;
  * frame 1's prediction is forced to the gt box.

Why the project's own code: mmtracking is not installed with this stack (its
OpenMMLab-2.0 line is a pre-release from mmcv 2.0's release-candidate time)
and the OTB toolkit is MATLAB; the two rule sets above are small enough to
keep here, each tested frame by frame (tests/tracking/test_sot_metrics.py).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmaction.registry import METRICS

__all__ = [
    'IOU_THRESHOLDS', 'PIXEL_THRESHOLDS', 'RULES', 'apply_otb_toolkit_rules',
    'bbox_iou_xywh', 'success_curve',
    'precision_curve', 'normalized_precision_curve', 'eval_sequence_ope',
    'eval_ope', 'mean_over_runs', 'SOTOPEMetric'
]

IOU_THRESHOLDS = np.linspace(0, 1, 21)  # 0, 0.05, ..., 1.0 (exact endpoints)
PIXEL_THRESHOLDS = np.arange(0, 51, dtype=np.float64)  # 0 .. 50 px
PRECISION_INDEX = 20  # 20 px, or 0.2 for the normalised precision
RULES = ('mmtracking', 'otb_toolkit')


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


def _check_rules(rules: str) -> None:
    if rules not in RULES:
        raise ValueError(f'rules must be one of {RULES}, got {rules!r}')


def apply_otb_toolkit_rules(gt, pred) -> tuple:
    """The OTB toolkit's treatment of predictions and gt (module docstring).

    Args:
        gt, pred: (N, 4) boxes ``(x, y, w, h)``.

    Returns:
        tuple: ``pred`` (N, 4) with frame 1 set to the gt and empty
        predictions replaced by the previous one; ``valid`` (N,) bool, the
        frames whose gt x, y, w, h are all > 0.
    """
    gt, pred = _as_boxes(gt, 'gt'), _as_boxes(pred, 'pred').copy()
    _check_lengths(gt, pred)
    if len(pred):
        pred[0] = gt[0]
    for i in range(1, len(pred)):
        empty = np.isnan(pred[i]).all() or not (pred[i, 2] > 0) or \
            not (pred[i, 3] > 0)
        if empty and not np.isnan(gt[i]).any():
            pred[i] = pred[i - 1]
    return pred, (gt > 0).all(axis=1)


def bbox_iou_xywh(gt, pred, valid: Optional[np.ndarray] = None
                  ) -> np.ndarray:
    """Row-wise IoU of two box arrays.

    Args:
        gt, pred: (N, 4) boxes ``(x, y, w, h)``.
        valid: (N,) frames to score; default: gt w > 0 and h > 0.

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
    valid = _valid(gt) if valid is None else np.asarray(valid, bool)
    iou[valid] = inter[valid] / np.maximum(union[valid], 1e-12)
    return np.clip(iou, -1.0, 1.0)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2.0


def _centre_errors(gt: np.ndarray, pred: np.ndarray, normalise: bool,
                   valid: Optional[np.ndarray] = None) -> np.ndarray:
    """(N,) centre distances; -1 where the frame is not scored.

    ``valid`` default (mmtracking): the gt centre is > 0 in both coordinates.
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
    if valid is None:
        valid = (gc > 0).all(axis=1)
    err[~np.asarray(valid, bool)] = -1.0
    return err


def _threshold_curve(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(T,) fraction of frames with ``error <= t`` for each threshold."""
    return (errors[None, :] <= thresholds[:, None]).mean(axis=1)


def _prepare(gt, pred, rules: str):
    """Boxes as arrays, plus the toolkit's fixed predictions and valid mask
    (``None``: each metric's mmtracking default)."""
    _check_rules(rules)
    gt, pred = _as_boxes(gt, 'gt'), _as_boxes(pred, 'pred')
    _check_lengths(gt, pred)
    if rules == 'otb_toolkit':
        pred, valid = apply_otb_toolkit_rules(gt, pred)
        return gt, pred, valid
    return gt, pred, None


def success_curve(gt, pred, thresholds=IOU_THRESHOLDS,
                  rules: str = 'mmtracking') -> np.ndarray:
    """(T,) fraction of frames with IoU strictly above each threshold."""
    gt, pred, valid = _prepare(gt, pred, rules)
    iou = bbox_iou_xywh(gt, pred, valid)
    return (iou[None, :] > np.asarray(thresholds)[:, None]).mean(axis=1)


def precision_curve(gt, pred, thresholds=PIXEL_THRESHOLDS,
                    rules: str = 'mmtracking') -> np.ndarray:
    """(T,) fraction of frames with centre error (px) <= each threshold."""
    gt, pred, valid = _prepare(gt, pred, rules)
    err = _centre_errors(gt, pred, normalise=False, valid=valid)
    return _threshold_curve(err, np.asarray(thresholds, dtype=np.float64))


def normalized_precision_curve(gt, pred,
                               thresholds=PIXEL_THRESHOLDS / 100.0,
                               rules: str = 'mmtracking') -> np.ndarray:
    """(T,) same as :func:`precision_curve` on errors divided by gt (w, h).

    (Not part of the OTB toolkit; under ``'otb_toolkit'`` it uses the
    toolkit's predictions and valid frames.)"""
    gt, pred, valid = _prepare(gt, pred, rules)
    err = _centre_errors(gt, pred, normalise=True, valid=valid)
    return _threshold_curve(err, np.asarray(thresholds, dtype=np.float64))


def eval_sequence_ope(gt, pred, rules: str = 'mmtracking'
                      ) -> Dict[str, object]:
    """OPE numbers of one sequence (fractions in [0, 1], not x100).

    ``rules``: ``'mmtracking'`` or ``'otb_toolkit'`` (module docstring).

    Returns:
        dict: ``success`` (AUC), ``precision`` (20 px), ``norm_precision``
        (0.2), and the curves ``success_curve`` (21,), ``precision_curve``
        (51,), ``norm_precision_curve`` (51,).
    """
    s = success_curve(gt, pred, rules=rules)
    p = precision_curve(gt, pred, rules=rules)
    n = normalized_precision_curve(gt, pred, rules=rules)
    return dict(
        success=float(s.mean()),
        precision=float(p[PRECISION_INDEX]),
        norm_precision=float(n[PRECISION_INDEX]),
        success_curve=s,
        precision_curve=p,
        norm_precision_curve=n)


def eval_ope(gts: Sequence, preds: Sequence,
             names: Optional[Sequence[str]] = None,
             rules: str = 'mmtracking') -> Dict[str, object]:
    """OPE over a dataset: per-sequence values and their means (x100).

    Args:
        gts, preds: per sequence, (N_i, 4) boxes ``(x, y, w, h)``.
        names: sequence names (default ``seq0``, ``seq1``, ...).
        rules: invalid-frame rules, ``'mmtracking'`` or ``'otb_toolkit'``.

    Returns:
        dict: ``success``, ``precision``, ``norm_precision`` (means x100),
        ``success_curve`` (21,) / ``precision_curve`` (51,) /
        ``norm_precision_curve`` (51,) means x100, ``iou_thresholds``,
        ``pixel_thresholds``, ``rules`` and ``per_sequence`` {name: numbers
        x100}.
    """
    _check_rules(rules)
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
        r = eval_sequence_ope(gt, pred, rules=rules)
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
        rules=rules,
        per_sequence=per_seq,
        **mean_curves)


SCALARS = ('success', 'precision', 'norm_precision')


def mean_over_runs(runs: Sequence[Dict]) -> Dict[str, object]:
    """Average :func:`eval_ope` results of repeated runs (e.g. seeds).

    Args:
        runs: eval_ope results on the same sequences.

    Returns:
        dict: an eval_ope-shaped result whose curves, scalars and per-sequence
        values are the means over runs, plus ``over_runs``: per scalar
        ``mean``, ``std`` (population, ddof = 0, as the linear probe's
        seeds) and ``values`` (one per run, in order).
    """
    if not runs:
        raise ValueError('no runs to average')
    names = list(runs[0]['per_sequence'])
    for r in runs[1:]:
        if list(r['per_sequence']) != names:
            raise ValueError('runs were scored on different sequences: '
                             f"{names} vs {list(r['per_sequence'])}")
        if r.get('rules') != runs[0].get('rules'):
            raise ValueError('runs were scored with different rules')
    out = {k: v for k, v in runs[0].items()
           if k in ('iou_thresholds', 'pixel_thresholds', 'rules')}
    for k in ('success_curve', 'precision_curve', 'norm_precision_curve'):
        out[k] = np.mean([np.asarray(r[k]) for r in runs], axis=0)
    over = {}
    for k in SCALARS:
        vals = np.array([float(r[k]) for r in runs])
        out[k] = float(vals.mean())
        over[k] = dict(mean=float(vals.mean()), std=float(vals.std()),
                       values=vals.tolist())
    out['per_sequence'] = {
        n: dict({k: float(np.mean([r['per_sequence'][n][k] for r in runs]))
                 for k in SCALARS},
                num_frames=runs[0]['per_sequence'][n]['num_frames'])
        for n in names
    }
    out['over_runs'] = dict(num_runs=len(runs), **over)
    return out


@METRICS.register_module()
class SOTOPEMetric(BaseMetric):
    """mmengine metric wrapping :func:`eval_ope` (OTB one-pass evaluation).

    ``process`` expects one data sample per whole sequence with keys
    ``video_name``, ``gt_bboxes`` (N, 4) and ``pred_bboxes`` (N, 4), both
    ``(x, y, w, h)``. ``compute_metrics`` returns ``success``, ``precision``
    and ``norm_precision`` (x100), prefixed ``sot/`` by mmengine.

    Args:
        rules (str): ``'mmtracking'`` (default) or ``'otb_toolkit'``.
    """
    default_prefix: Optional[str] = 'sot'

    def __init__(self, rules: str = 'mmtracking', **kwargs):
        super().__init__(**kwargs)
        _check_rules(rules)
        self.rules = rules

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
        res = eval_ope(gts, preds, names, rules=self.rules)
        MMLogger.get_current_instance().info(
            f"OPE over {len(names)} sequences: success {res['success']:.2f} "
            f"precision {res['precision']:.2f} "
            f"norm_precision {res['norm_precision']:.2f}")
        return {k: res[k] for k in ('success', 'precision', 'norm_precision')}
