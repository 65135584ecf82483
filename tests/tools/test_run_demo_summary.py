"""tools/run_demo.py: the summary tables it prints from the steps' JSON,
and the pretraining config it points at the generated data."""
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import ROOT, load_tool


def _probe(seco, seco_mc, randoms):
    n = len(randoms)
    mean = sum(randoms) / n
    std = (sum((r - mean)**2 for r in randoms) / n)**0.5
    agg = dict(mean=mean, std=std, min=min(randoms), max=max(randoms))
    return dict(results=dict(seco=dict(top1=seco, mean_class_acc=seco_mc)),
                random_over_seeds=dict(seeds=list(range(n)), top1=agg,
                                       mean_class_acc=agg))


def test_probe_rows_show_both_protocols_with_mean_class_accuracy():
    tool = load_tool('run_demo')
    probes = {'demo': _probe(0.472, 0.471, [0.345, 0.294, 0.306]),
              'paper': _probe(0.302, 0.305, [0.349, 0.302, 0.278])}
    tracking = {
        name: dict(metrics=dict(success=s, precision=p),
                   untrained=dict(metrics=dict(success=s / 2,
                                               precision=p / 2)),
                   static_box_baseline=dict(success=11.4, precision=27.2))
        for name, s, p in (('seco', 33.6, 58.4), ('random', 31.1, 54.4))
    }
    rows = tool.summary_rows(probes, tracking)
    assert rows[0][1:3] == ('probe top-1 / mean-class (%), demo',
                            'probe top-1 / mean-class (%), paper')
    assert rows[1] == ('SeCo (demo pretraining)', '47.2 / 47.1', '30.2 / 30.5',
                       '33.6 / 58.4', '16.8 / 29.2')
    assert rows[2][0] == 'random init (3 seeds, mean +- std)'
    assert rows[2][1] == '31.5 +- 2.2 / 31.5 +- 2.2'
    assert rows[3] == ('static box (never moves)', '-', '-', '11.4 / 27.2',
                       '-')
    # no tracking run (--skip-tracking): dashes, no static-box row
    assert tool.summary_rows(probes, {})[1][3:] == ('-', '-')
    assert len(tool.summary_rows(probes, {})) == 3


def test_tracking_over_seeds_and_opencv_reference_rows():
    tool = load_tool('run_demo')
    probes = {'paper': _probe(0.302, 0.305, [0.349, 0.302, 0.278])}

    def seeds(values):
        n = len(values)
        mean = sum(values) / n
        std = (sum((v - mean)**2 for v in values) / n)**0.5
        return dict(mean=mean, std=std, values=values)

    over = dict(success=seeds([30.0, 32.0, 34.0]),
                precision=seeds([50.0, 50.0, 50.0]))
    tracking = {
        'random': dict(
            metrics=dict(success=32.0, precision=50.0, over_runs=over),
            static_box_baseline=dict(success=11.4, precision=27.2),
            opencv_trackers={'CSRT': dict(metrics=dict(success=63.05,
                                                       precision=83.1))})}
    rows = tool.summary_rows(probes, tracking)
    assert rows[2][2] == '32.0 +- 1.6 / 50.0 +- 0.0'
    assert rows[2][3] == '-'  # no untrained run
    assert rows[4] == ('OpenCV CSRT (no learning)', '-', '63.0 / 83.1', '-')


def test_loss_rows_flag_a_loss_that_did_not_fall():
    tool = load_tool('run_demo')
    trend = {k: dict(reference=1.0, peak=1.2, last=0.8, decreased=True)
             for k in ('loss', 'loss_inter', 'loss_intra')}
    trend['loss_order'] = dict(reference=0.693, peak=0.70, last=0.693,
                               decreased=False)
    trend['epochs'] = dict(reference=2, last=30)
    rows = tool.loss_rows(trend)
    assert rows[0] == ('pretraining loss', 'epoch 2', 'peak', 'epoch 30',
                       'decreased')
    assert rows[2] == ('loss_inter', '1.000', '1.200', '0.800', 'yes')
    assert rows[4] == ('loss_order', '0.693', '0.700', '0.693', 'NO')


def test_monitor_config_is_the_demo_recipe_plus_the_knn_hook(tmp_path):
    tool = load_tool('run_demo')
    demo_path = osp.join(ROOT, 'configs', 'seco_r18_demo.py')
    monitor = Config.fromfile(osp.join(ROOT, tool.PRETRAIN_CONFIG))
    demo = Config.fromfile(demo_path)
    i = tool.monitor_hook_index(tool.PRETRAIN_CONFIG)
    assert monitor.custom_hooks[i]['type'] == 'KNNMonitorHook'
    assert monitor.custom_hooks[:i] == demo.custom_hooks
    assert i == len(demo.custom_hooks)
    # a config without the monitor: a clear stop naming the file
    plain = tmp_path / 'plain.py'
    plain.write_text(f'_base_ = [{demo_path!r}]\n')
    with pytest.raises(SystemExit, match='plain.py: custom_hooks has no '
                       'KNNMonitorHook'):
        tool.monitor_hook_index(str(plain))
