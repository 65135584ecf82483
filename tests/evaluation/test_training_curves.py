import json

import pytest

from seco_mm.evaluation.training_curves import (epoch_means, load_scalars,
                                                loss_trend)


def _write(run_dir, records):
    vis = run_dir / 'vis_data'
    vis.mkdir(parents=True)
    with open(vis / 'scalars.json', 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')


def _rec(epoch, step, inter, intra, order):
    return dict(epoch=epoch, step=step, iter=step, lr=0.1,
                loss=inter + intra + order, loss_inter=inter,
                loss_intra=intra, loss_order=order)


def test_resumed_run_merges_and_later_folder_wins(tmp_path):
    _write(tmp_path / '20260101_000000', [
        _rec(1, 5, 5.0, 0.9, 0.70), _rec(1, 10, 5.2, 0.8, 0.70),
        _rec(2, 15, 5.4, 0.7, 0.69), _rec(2, 20, 9.9, 9.9, 9.9)])
    # the run was killed after step 15's checkpoint and resumed: step 20 is
    # logged again by the resumed run, which wins
    _write(tmp_path / '20260101_010000', [
        _rec(2, 20, 5.2, 0.7, 0.69), _rec(3, 25, 5.0, 0.6, 0.68),
        _rec(3, 30, 4.8, 0.5, 0.66), {'coco/bbox_mAP': 0.1, 'step': 3}])
    records = load_scalars(str(tmp_path))
    assert [r['step'] for r in records] == [5, 10, 15, 20, 25, 30]
    means = epoch_means(records, ('loss_inter', 'loss_order'))
    assert means[1]['loss_inter'] == pytest.approx(5.1)
    assert means[2]['loss_inter'] == pytest.approx(5.3)
    assert means[3]['loss_order'] == pytest.approx(0.67)

    trend = loss_trend(records)
    assert trend['epochs'] == dict(reference=2, last=3)
    inter = trend['loss_inter']
    assert (inter['reference'], inter['last']) == pytest.approx((5.3, 4.9))
    assert inter['peak'] == pytest.approx(5.3) and inter['decreased']
    assert all(trend[k]['decreased'] for k in ('loss', 'loss_intra',
                                               'loss_order'))


def test_a_loss_that_does_not_fall_is_reported(tmp_path):
    _write(tmp_path / 'run', [
        _rec(1, 1, 5.0, 0.9, 0.69), _rec(2, 2, 5.5, 0.8, 0.69),
        _rec(3, 3, 5.5, 0.6, 0.70)])
    trend = loss_trend(load_scalars(str(tmp_path)))
    assert not trend['loss_inter']['decreased']  # equal is not lower
    assert not trend['loss_order']['decreased']
    assert trend['loss_intra']['decreased']
    # with epoch 1 as reference, the low start makes inter a rise as well
    assert not loss_trend(load_scalars(str(tmp_path)),
                          reference_epoch=1)['loss_inter']['decreased']


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        load_scalars(str(tmp_path))
    bad = tmp_path / 'run' / 'vis_data'
    bad.mkdir(parents=True)
    (bad / 'scalars.json').write_text(
        json.dumps(_rec(1, 1, 5, 1, 1)) + '\n{"epoch": 1, "st\n')
    with pytest.raises(ValueError, match=r'scalars.json:2: not JSON'):
        load_scalars(str(tmp_path))
    records = [_rec(1, 1, 5, 1, 1), _rec(2, 2, 5, 1, 1)]
    with pytest.raises(ValueError, match='stopped at epoch 2'):
        loss_trend(records)
    with pytest.raises(ValueError, match='epoch 4 was not logged'):
        loss_trend(records, reference_epoch=4)
    with pytest.raises(KeyError, match='loss_extra'):
        loss_trend(records + [_rec(3, 3, 4, 1, 1)],
                   keys=('loss', 'loss_extra'))


def _knn(epoch, step, top1, r1, r5, seconds=2.0):
    return {'knn/top1': top1, 'knn/R@1': r1, 'knn/R@5': r5,
            'knn/seconds': seconds, 'knn/epoch': epoch, 'step': step}


def test_knn_curve_table_and_plot(tmp_path):
    from seco_mm.evaluation.training_curves import (knn_rows, load_knn_curve,
                                                    plot_training_curves)
    # the monitor's records share steps with training records (same
    # scalars.json); a resumed run re-logs epoch 2, the later folder wins
    _write(tmp_path / '20260101_000000', [
        _knn(0, 0, 20.0, 18.0, 40.0), _rec(1, 5, 5.0, 0.9, 0.70),
        _knn(1, 5, 25.0, 22.0, 45.0), _rec(2, 10, 5.4, 0.7, 0.69),
        _knn(2, 10, 99.0, 99.0, 99.0)])
    _write(tmp_path / '20260101_010000', [
        _knn(2, 10, 30.0, 27.5, 50.0), _rec(3, 15, 5.0, 0.6, 0.68),
        _knn(3, 15, 35.0, 31.0, 55.0, seconds=1.5)])
    curve = load_knn_curve(str(tmp_path))
    assert [r['epoch'] for r in curve] == [0, 1, 2, 3]
    assert [r['top1'] for r in curve] == [20.0, 25.0, 30.0, 35.0]
    assert curve[2]['R@1'] == 27.5 and curve[3]['step'] == 15
    # the k-NN records do not disturb the loss records of the same steps
    assert [r['step'] for r in load_scalars(str(tmp_path))] == [5, 10, 15]
    rows = knn_rows(curve)
    assert rows[0] == ('k-NN monitor', 'top-1 (%)', 'R@1 (%)', 'R@5 (%)',
                       'cost (s)')
    assert rows[4] == ('epoch 3', '35.0', '31.0', '55.0', '1.5')
    png = plot_training_curves(load_scalars(str(tmp_path)), curve,
                               str(tmp_path / 'curves.png'), title='demo')
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    _write(tmp_path / '20260101_020000', [{'knn/top1': 1.0, 'step': 3}])
    with pytest.raises(ValueError, match=r"scalars\.json:1: k-NN record "
                       r"without 'knn/epoch'"):
        load_knn_curve(str(tmp_path))


def test_no_monitor_gives_an_empty_curve(tmp_path):
    from seco_mm.evaluation.training_curves import knn_rows, load_knn_curve
    _write(tmp_path / '20260101_000000', [_rec(1, 5, 5.0, 0.9, 0.70)])
    assert load_knn_curve(str(tmp_path)) == [] and knn_rows([]) == []
