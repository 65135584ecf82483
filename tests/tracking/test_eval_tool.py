"""tools/eval_tracking.py and tools/train_tracking.py end to end (tiny)."""
import json
import os.path as osp

import numpy as np
import pytest
from trk_helpers import make_sequence, save_backbone, write_info_file

from tests.conftest import ROOT, load_tool

eval_tracking = load_tool('eval_tracking')
train_tracking = load_tool('train_tracking')

CFG = osp.join(ROOT, 'configs', 'tracking', 'siamfc_r18_demo.py')
# 2 sequences x 4 pairs, batch 4, 1 epoch: 2 training iterations
SHORT = ['--cfg-options', 'train_cfg.max_epochs=1',
         'train_dataloader.dataset.pairs_per_seq=4',
         'train_dataloader.batch_size=4', 'param_scheduler.0.end=1']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('trk_tool')
    test_root, train_root = str(tmp / 'otb'), str(tmp / 'otb_train')
    for i, name in enumerate(['Alpha', 'Beta']):
        n = len(make_sequence(test_root, name, num_frames=12, seed=10 + i))
        make_sequence(train_root, f'T{name}', num_frames=12, seed=20 + i)
    write_info_file(test_root, [(f'{n}/img', f'{n}/groundtruth_rect.txt', 1,
                                 12) for n in ('Alpha', 'Beta')])
    backbone = str(tmp / 'backbone.pth')
    save_backbone(backbone, depth=18, seed=1)
    return dict(tmp=tmp, test=test_root, train=train_root, backbone=backbone)


@pytest.mark.slow  # trains the tracker with the Runner
def test_eval_with_training_then_random_init_compare(data):
    out = str(data['tmp'] / 'run_seco')
    rc = eval_tracking.main([
        CFG, '--checkpoint', data['backbone'], '--data', data['test'],
        '--work-dir', out, '--train', '--train-data', data['train'],
        '--no-progress', '--name', 'seco', '--eval-untrained', *SHORT])
    assert rc == 0
    res = json.load(open(osp.join(out, 'tracking_results.json')))
    assert res['name'] == 'seco +trained adapt' and res['trained_adaptation']
    assert res['description'] == (
        'backbone backbone.pth, head trained on '
        f"{osp.basename(data['tmp'])}/otb_train; test: "
        f"{osp.basename(data['tmp'])}/otb")
    assert res['untrained']['name'] == 'seco untrained adapt'
    assert len(res['untrained']['metrics']['success_curve']) == 21
    assert res['train']['iterations'] == 2
    assert res['train']['train_data'] == data['train']
    m = res['metrics']
    assert set(m['per_sequence']) == {'Alpha', 'Beta'}
    assert len(m['success_curve']) == 21 and len(m['precision_curve']) == 51
    assert 0 <= m['success'] <= 100 and res['fps'] > 0
    assert res['num_frames'] == 24
    assert res['static_box_baseline']['success'] < 100
    for png in ('success_plot.png', 'precision_plot.png'):
        with open(osp.join(out, png), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    pred = np.loadtxt(osp.join(out, 'predictions', 'Alpha.txt'),
                      delimiter=',')
    assert pred.shape == (12, 4)
    gt = np.loadtxt(osp.join(data['test'], 'Alpha', 'groundtruth_rect.txt'),
                    delimiter=',')
    np.testing.assert_allclose(pred[0], gt[0])  # OPE: frame 0 = given box

    out2 = str(data['tmp'] / 'run_random')
    rc = eval_tracking.main([
        CFG, '--random-init', '--data', data['test'], '--work-dir', out2,
        '--no-progress', '--compare',
        osp.join(out, 'tracking_results.json')])
    assert rc == 0
    res2 = json.load(open(osp.join(out2, 'tracking_results.json')))
    assert res2['random_init'] and not res2['trained_adaptation']
    assert res2['name'] == 'random-init'


@pytest.mark.slow  # trains the tracker with the Runner
def test_train_tool_then_load_from(data):
    work = str(data['tmp'] / 'train_only')
    assert train_tracking.main([
        CFG, '--random-init', '--work-dir', work, '--train-data',
        data['train'], *SHORT]) == 0
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    out = str(data['tmp'] / 'eval_loaded')
    assert eval_tracking.main([
        CFG, '--random-init', '--load-from', ckpt, '--data', data['test'],
        '--work-dir', out, '--no-progress', '--sequences', 'Beta']) == 0
    res = json.load(open(osp.join(out, 'tracking_results.json')))
    assert list(res['metrics']['per_sequence']) == ['Beta']
    assert res['trained_adaptation']


def test_clear_errors(data, capsys):
    out = str(data['tmp'] / 'err')
    assert eval_tracking.main([CFG, '--checkpoint', 'missing.pth', '--data',
                               data['test'], '--work-dir', out]) == 2
    assert 'backbone checkpoint not found: missing.pth' in \
        capsys.readouterr().err
    assert eval_tracking.main([CFG, '--random-init', '--data',
                               str(data['tmp'] / 'nowhere'), '--work-dir',
                               out]) == 2
    assert 'OTB data folder not found' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        eval_tracking.parse_args([CFG, '--data', 'x', '--work-dir', out])
    with pytest.raises(SystemExit):
        eval_tracking.parse_args([CFG, '--random-init', '--data', 'x',
                                  '--work-dir', out, '--eval-untrained'])


def test_every_input_is_checked_before_any_work(data, capsys):
    """A missing training folder (or SiamFC checkpoint, or --compare file)
    is reported before the untrained evaluation runs: nothing is written."""
    out = str(data['tmp'] / 'early')
    missing = str(data['tmp'] / 'no_train_data')
    assert eval_tracking.main([
        CFG, '--random-init', '--data', data['test'], '--work-dir', out,
        '--train', '--train-data', missing, '--eval-untrained',
        '--no-progress']) == 2
    err = capsys.readouterr()
    assert f'training sequences folder not found: {missing}' in err.err
    assert 'untrained adaptation' not in err.out
    assert not osp.exists(out)
    assert eval_tracking.main([
        CFG, '--random-init', '--data', data['test'], '--work-dir', out,
        '--load-from', 'nope.pth']) == 2
    assert 'SiamFC checkpoint not found: nope.pth' in capsys.readouterr().err
    assert eval_tracking.main([
        CFG, '--random-init', '--data', data['test'], '--work-dir', out,
        '--compare', str(data['tmp'] / 'none.json')]) == 2
    assert '--compare file not found' in capsys.readouterr().err
    assert not osp.exists(out)
    with pytest.raises(SystemExit):
        eval_tracking.parse_args([CFG, '--random-init', '--data', 'x',
                                  '--work-dir', out, '--seed', '1',
                                  '--seeds', '0', '1'])


def test_seeds_opencv_references_and_toolkit_rules(data):
    out = str(data['tmp'] / 'seeds')
    assert eval_tracking.main([
        CFG, '--random-init', '--data', data['test'], '--work-dir', out,
        '--seeds', '0', '1', '2', '--opencv-trackers', 'csrt', 'KCF',
        '--otb-toolkit-rules', '--no-progress']) == 0
    res = json.load(open(osp.join(out, 'tracking_results.json')))
    assert res['seeds'] == [0, 1, 2] and res['metric_rules'] == 'otb_toolkit'
    per_seed = [r['success'] for r in res['per_seed']]
    assert len(set(per_seed)) > 1  # random-init backbones differ per seed
    over = res['metrics']['over_runs']['success']
    assert over['values'] == pytest.approx(per_seed)
    assert over['mean'] == pytest.approx(np.mean(per_seed))
    assert over['std'] == pytest.approx(np.std(per_seed))
    assert res['metrics']['success'] == pytest.approx(np.mean(per_seed))
    assert res['metrics']['rules'] == 'otb_toolkit'
    assert set(res['opencv_trackers']) == {'CSRT', 'KCF'}
    for ref in res['opencv_trackers'].values():
        assert 0 <= ref['metrics']['success'] <= 100
        assert len(ref['metrics']['success_curve']) == 21
    assert res['description'] == ('random-init backbone, untrained head; '
                                  f"test: {osp.basename(data['tmp'])}/otb")
    for seed in (0, 1, 2):
        assert osp.isfile(osp.join(out, 'predictions', f'seed{seed}',
                                   'Alpha.txt'))


# fields that measure time, or say how the work was spread over processes
_TIMING_KEYS = {'fps', 'seconds', 'torch_threads', 'workers', 'work_dir'}


def _results_without_timing(path):
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items()
                    if k not in _TIMING_KEYS}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o
    with open(path) as f:
        return strip(json.load(f))


@pytest.mark.slow  # two trainings with the Runner
def test_trainings_in_one_second_keep_their_own_logs(data, monkeypatch):
    """Both seeds' trainings run in this process and, with the clock frozen,
    in the same second: each still writes its log, config and scalars into
    its own work_dir (mmengine would otherwise hand the second Runner the
    first one's logger and visualizer, both named by config and second)."""
    import time
    import types

    import mmengine.runner.runner as runner_module
    frozen = types.SimpleNamespace(time=lambda: 1.8e9,
                                   strftime=time.strftime,
                                   localtime=time.localtime)
    monkeypatch.setattr(runner_module, 'time', frozen)
    out = str(data['tmp'] / 'one_second')
    assert eval_tracking.main([
        CFG, '--random-init', '--data', data['test'], '--train',
        '--train-data', data['train'], '--seeds', '0', '1', '--workers', '1',
        '--no-progress', '--work-dir', out, *SHORT]) == 0
    stamp = time.strftime('%Y%m%d_%H%M%S', time.localtime(1.8e9))
    for seed in (0, 1):
        run = osp.join(out, f'train_seed{seed}', stamp)
        assert osp.getsize(osp.join(run, f'{stamp}.log')) > 0
        assert osp.isfile(osp.join(run, 'vis_data', 'config.py'))
        with open(osp.join(run, 'vis_data', 'scalars.json')) as f:
            lines = f.read().splitlines()
        # one line: its own last iteration, not the other seed's too
        assert len(lines) == 1 and json.loads(lines[0])['iter'] == 2


@pytest.mark.parametrize('source', ['checkpoint', 'random'])
def test_workers_and_reuse_give_the_same_results(data, capsys, source):
    """Old path (one process, every seed's untrained tracker evaluated)
    vs new (2 worker processes, the identical untrained tracker of a loaded
    backbone evaluated once): the same result file, bit for bit, and the
    same prediction files."""
    src = (['--checkpoint', data['backbone']] if source == 'checkpoint'
           else ['--random-init'])
    common = [CFG, *src, '--data', data['test'], '--train', '--train-data',
              data['train'], '--eval-untrained', '--seeds', '0', '1',
              '--opencv-trackers', 'KCF', '--no-progress', '--threads', '1',
              *SHORT]
    old = str(data['tmp'] / f'old_path_{source}')
    new = str(data['tmp'] / f'new_path_{source}')
    assert eval_tracking.main(common + ['--work-dir', old, '--workers', '1',
                                        '--no-reuse']) == 0
    assert 'is reused' not in capsys.readouterr().out
    assert eval_tracking.main(common + ['--work-dir', new, '--workers',
                                        '2']) == 0
    out = capsys.readouterr().out
    # a loaded backbone: seed 1's untrained tracker equals seed 0's
    assert ("seed 1: untrained tracker identical to seed 0's" in out) == \
        (source == 'checkpoint')
    res_old = _results_without_timing(osp.join(old, 'tracking_results.json'))
    res_new = _results_without_timing(osp.join(new, 'tracking_results.json'))
    assert res_new == res_old
    assert json.load(open(osp.join(new, 'tracking_results.json')))[
        'workers'] == 2
    assert res_new['per_seed'][1]['untrained'] is not None
    for seed in (0, 1):
        for seq in ('Alpha', 'Beta'):
            name = osp.join('predictions', f'seed{seed}', f'{seq}.txt')
            with open(osp.join(old, name)) as a, open(osp.join(new, name)) \
                    as b:
                assert a.read() == b.read()
