"""OPE metrics against values computed by hand."""
import numpy as np
import pytest

from seco_mm.evaluation.sot_metrics import (IOU_THRESHOLDS, PIXEL_THRESHOLDS,
                                            SOTOPEMetric,
                                            apply_otb_toolkit_rules,
                                            bbox_iou_xywh, eval_ope,
                                            eval_sequence_ope,
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


# ----------------------------------------------- the two invalid-frame rules
# Four frames, constructed so that every rule that differs is exercised:
#   frame 1: prediction off by 25 px (the toolkit forces it to the gt)
#   frame 2: perfect
#   frame 3: gt touches the left border (x = 0) but has an area; perfect
#   frame 4: empty prediction (NaN), target visible
RULE_GT = np.array([[10, 10, 20, 20], [10, 10, 20, 20], [0, 10, 20, 20],
                    [10, 10, 20, 20]], dtype=np.float64)
RULE_PRED = np.array([[35, 10, 20, 20], [10, 10, 20, 20], [0, 10, 20, 20],
                      [np.nan] * 4])


def test_mmtracking_rules_on_constructed_frames():
    r = eval_sequence_ope(RULE_GT, RULE_PRED)  # default rules
    # frames 2 and 3 succeed (x = 0 is a valid gt: w, h > 0 and centre > 0),
    # frame 1 is scored as predicted (no overlap), frame 4 (NaN) fails
    np.testing.assert_allclose(r['success_curve'][:-1], 2 / 4)
    np.testing.assert_allclose(r['precision_curve'][:25], 2 / 4)
    assert r['precision_curve'][25] == 3 / 4  # frame 1 is exactly 25 px off
    assert r['success'] == pytest.approx(2 / 4 * 20 / 21)


def test_otb_toolkit_rules_on_constructed_frames():
    pred, valid = apply_otb_toolkit_rules(RULE_GT, RULE_PRED)
    np.testing.assert_array_equal(pred[0], RULE_GT[0])  # frame 1 := gt
    np.testing.assert_array_equal(pred[3], pred[2])  # empty := previous
    np.testing.assert_array_equal(valid, [True, True, False, True])
    r = eval_sequence_ope(RULE_GT, RULE_PRED, rules='otb_toolkit')
    # success: frames 1, 2 perfect; frame 3 (x = 0) IoU -1 fails; frame 4
    # carries frame 3's box [0, 10, 20, 20] vs gt [10, 10, 20, 20]:
    # overlap 10 x 20 = 200, union 600, IoU 1/3 > t for t = 0 .. 0.30
    s = r['success_curve']
    np.testing.assert_allclose(s[:7], 3 / 4)
    np.testing.assert_allclose(s[7:-1], 2 / 4)
    # precision: frame 3 counts as within every threshold (error -1);
    # frame 4 is 10 px off
    p = r['precision_curve']
    np.testing.assert_allclose(p[:10], 3 / 4)
    np.testing.assert_allclose(p[10:], 1.0)
    res = eval_ope([RULE_GT], [RULE_PRED], rules='otb_toolkit')
    assert res['rules'] == 'otb_toolkit'
    assert res['success'] == pytest.approx(100 * s.mean())


def test_otb_toolkit_rules_keep_empty_prediction_when_gt_is_nan():
    gt = RULE_GT[:2].copy()
    gt[1] = np.nan
    pred = np.array([[10, 10, 20, 20], [10, 10, 0, 0]], dtype=np.float64)
    fixed, valid = apply_otb_toolkit_rules(gt, pred)
    np.testing.assert_array_equal(fixed[1], [10, 10, 0, 0])
    assert not valid[1]
    # a partly NaN prediction with a positive size is not "empty"
    pred[1] = [np.nan, 10, 20, 20]
    fixed, _ = apply_otb_toolkit_rules(RULE_GT[:2], pred)
    assert np.isnan(fixed[1, 0])


def test_unknown_rules_raise():
    with pytest.raises(ValueError, match="'mmtracking', 'otb_toolkit'"):
        eval_sequence_ope(GT, GT, rules='vot')
    with pytest.raises(ValueError, match='rules must be one of'):
        SOTOPEMetric(rules='otb')
    metric = SOTOPEMetric(rules='otb_toolkit')
    metric.process({}, [dict(video_name='A', gt_bboxes=RULE_GT,
                             pred_bboxes=RULE_PRED)])
    out = metric.compute_metrics(metric.results)
    assert out['precision'] == pytest.approx(100.0)


def test_mean_over_runs_of_seeds():
    from seco_mm.evaluation.sot_metrics import mean_over_runs
    perfect = eval_ope([GT], [GT], ['A'])
    off = eval_ope([GT], [shifted(25, 0)], ['A'])
    res = mean_over_runs([perfect, off, perfect])
    auc = 100 * 20 / 21
    o = res['over_runs']['success']
    assert o['values'] == pytest.approx([auc, 0.0, auc])
    assert o['mean'] == pytest.approx(2 * auc / 3)
    assert o['std'] == pytest.approx(np.std([auc, 0.0, auc]))
    assert res['success'] == pytest.approx(2 * auc / 3)
    assert res['per_sequence']['A']['precision'] == pytest.approx(200 / 3)
    np.testing.assert_allclose(res['success_curve'][:-1], 200 / 3)
    assert res['over_runs']['num_runs'] == 3
    with pytest.raises(ValueError, match='different sequences'):
        mean_over_runs([perfect, eval_ope([GT], [GT], ['B'])])
    with pytest.raises(ValueError, match='different rules'):
        mean_over_runs([perfect, eval_ope([GT], [GT], ['A'],
                                          rules='otb_toolkit')])
