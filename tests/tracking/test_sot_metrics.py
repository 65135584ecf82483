"""OPE metrics against values computed by hand."""
import numpy as np
import pytest

from seco_mm.evaluation.sot_metrics import (IOU_THRESHOLDS, PIXEL_THRESHOLDS,
                                            SOTOPEMetric, bbox_iou_xywh,
                                            eval_ope, eval_sequence_ope,
                                            precision_curve, success_curve)

GT = np.tile([[10.0, 10.0, 20.0, 20.0]], (6, 1))


def shifted(dx, dy, boxes=GT):
    out = boxes.copy()
    out[:, 0] += dx
    out[:, 1] += dy
    return out


def test_thresholds_are_the_protocol_grids():
    assert len(IOU_THRESHOLDS) == 21
    assert IOU_THRESHOLDS[0] == 0 and IOU_THRESHOLDS[-1] == 1
    np.testing.assert_allclose(np.diff(IOU_THRESHOLDS), 0.05)
    assert PIXEL_THRESHOLDS[20] == 20


def test_perfect_track():
    r = eval_sequence_ope(GT, GT)
    # IoU = 1 exceeds every threshold but the last (IoU > 1.0 is false):
    # the OTB toolkit / mmtracking / pysot rule, so a perfect AUC is 20/21.
    np.testing.assert_array_equal(r['success_curve'][:-1], 1.0)
    assert r['success_curve'][-1] == 0.0
    assert r['success'] == pytest.approx(20 / 21)
    assert r['precision'] == 1.0
    assert r['norm_precision'] == 1.0
    np.testing.assert_array_equal(r['precision_curve'], 1.0)


def test_constant_offset_by_hand():
    # 20x20 box moved by (3, 3): overlap 17x17 = 289, union 800 - 289 = 511,
    # IoU = 0.5656 > t for t = 0, 0.05, ..., 0.55 -> 12 of 21 thresholds.
    pred = shifted(3, 3)
    iou = bbox_iou_xywh(GT, pred)
    np.testing.assert_allclose(iou, 289 / 511)
    r = eval_sequence_ope(GT, pred)
    assert r['success'] == pytest.approx(12 / 21)
    # centre error 3 * sqrt(2) = 4.24 px: within 5 px but not within 4 px
    assert r['precision_curve'][4] == 0.0
    assert r['precision_curve'][5] == 1.0
    assert r['precision'] == 1.0
    # normalised error sqrt(2) * 3 / 20 = 0.212 > 0.2 -> fails at index 20,
    # passes from 0.22 on
    assert r['norm_precision'] == 0.0
    assert r['norm_precision_curve'][22] == 1.0


def test_no_overlap_is_zero():
    pred = shifted(25, 0)  # 5 px gap, centre error 25 px
    r = eval_sequence_ope(GT, pred)
    assert r['success'] == 0.0
    assert r['precision'] == 0.0
    assert r['norm_precision'] == 0.0
    assert r['precision_curve'][25] == 1.0  # exactly 25 px away


def test_mixed_frames_and_sequence_mean():
    # seq A: half perfect, half 25 px off -> AUC (0.5 * 20 + 0 ) / 21
    pred_a = GT.copy()
    pred_a[3:] = shifted(25, 0)[3:]
    # seq B (2 frames): perfect
    gt_b = GT[:2]
    res = eval_ope([GT, gt_b], [pred_a, gt_b], ['A', 'B'])
    auc_a = 0.5 * 20 / 21
    auc_b = 20 / 21
    assert res['per_sequence']['A']['success'] == pytest.approx(100 * auc_a)
    # dataset value = mean over sequences, not over frames
    assert res['success'] == pytest.approx(100 * (auc_a + auc_b) / 2)
    assert res['precision'] == pytest.approx(100 * (0.5 + 1.0) / 2)
    assert res['per_sequence']['B']['num_frames'] == 2
    assert res['success_curve'].shape == (21, )
    assert res['precision_curve'].shape == (51, )


def test_invalid_ground_truth_frames_follow_the_toolkit():
    gt = GT[:2].copy()
    gt[1] = [0, 0, 0, 0]  # target absent: no area, centre not > 0
    pred = GT[:2]
    s = success_curve(gt, pred)
    p = precision_curve(gt, pred)
    # IoU of the invalid frame is -1: a failure at every threshold
    np.testing.assert_allclose(s[:-1], 0.5)
    # centre error -1: counted within every threshold (OTB toolkit rule)
    np.testing.assert_allclose(p, 1.0)


def test_scale_only_error():
    # same centre, prediction twice as large: IoU 1/4, centre error 0
    pred = np.array([[5.0, 5.0, 40.0, 40.0]])
    gt = np.array([[15.0, 15.0, 20.0, 20.0]])
    r = eval_sequence_ope(gt, pred)
    assert r['precision'] == 1.0
    assert r['success'] == pytest.approx(5 / 21)  # t = 0 .. 0.20


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match='4 predicted boxes for 6'):
        eval_sequence_ope(GT, GT[:4])
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        success_curve(GT[:, :3], GT[:, :3])
    with pytest.raises(ValueError, match='no sequences'):
        eval_ope([], [])


def test_registered_metric():
    metric = SOTOPEMetric()
    metric.process({}, [dict(video_name='A', gt_bboxes=GT, pred_bboxes=GT)])
    metric.process({}, [dict(video_name='B', gt_bboxes=GT,
                             pred_bboxes=shifted(25, 0))])
    out = metric.compute_metrics(metric.results)
    assert out['success'] == pytest.approx(100 * (20 / 21) / 2)
    assert out['precision'] == pytest.approx(50.0)
    with pytest.raises(KeyError, match='pred_bboxes'):
        metric.process({}, [dict(video_name='C', gt_bboxes=GT)])
