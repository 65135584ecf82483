"""tools/select_tracking_head.py: candidates, split guard, table, winner."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs', 'tracking', 'siamfc_r18_demo.py')


def _args(tool, tmp_path, *extra):
    return tool.parse_args(['--sel-data', str(tmp_path / 'sel'),
                            '--train-data', str(tmp_path / 'train'),
                            '--work-dir', str(tmp_path / 'work'), *extra])


@pytest.mark.parametrize('name, adjust, norm, scale, context', [
    ('classic', 'kaiming', 'scale', 0.001, 'exemplar'),
    ('exact5', 'identity', 'cosine', 5.0, 'search'),
    ('exact20', 'identity', 'cosine', 20.0, 'search'),
])
def test_candidate_commands_set_the_head_in_tracking_and_training(
        tmp_path, name, adjust, norm, scale, context):
    """Each candidate's eval_tracking argv, parsed by eval_tracking's own
    parser and merged into the demo config, gives that head everywhere
    (head, test_cfg and the training pair crop)."""
    tool, ev = load_tool('select_tracking_head'), load_tool('eval_tracking')
    args = _args(tool, tmp_path, '--corr-scales', '5', '20', '--seeds', '3',
                 '4')
    cands = {n: (o, u) for n, o, u in tool.candidates(args.corr_scales,
                                                       args.untrained_scale)}
    assert list(cands) == ['classic', 'exact5', 'exact20']
    cmd = tool.eval_command(name, cands[name][0], cands[name][1], args)
    parsed = ev.parse_args(cmd[1:])
    assert parsed.random_init and parsed.train and parsed.seeds == [3, 4]
    assert parsed.data == str(tmp_path / 'sel' / 'otb')
    assert parsed.train_data == str(tmp_path / 'train' / 'otb')
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(parsed.cfg_options)
    head = cfg.model.head
    assert (head.adjust_init, head.response_norm) == (adjust, norm)
    assert head.corr_scale == pytest.approx(scale)
    assert cfg.model.test_cfg.template_context == context
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert crop.type == 'SiamFCPairCrop' and crop.template_context == context
    # untrained scored for the classic head and once for the exact matcher
    # (10 not listed here: no exact candidate scores it)
    assert parsed.eval_untrained == (name == 'classic')
    assert [u for _, _, u in tool.candidates([5, 10, 20], 10)] == [
        True, False, True, False]


def test_split_guard_refuses_test_or_training_data(tmp_path):
    tool = load_tool('select_tracking_head')
    tool.check_splits(2, 1, 0, 'a', 'b')  # fine
    with pytest.raises(SystemExit, match='has seed 0, the test seed'):
        tool.check_splits(0, 1, 0, 'a', 'b')
    with pytest.raises(SystemExit, match='same as the training data b'):
        tool.check_splits(1, 1, 0, 'a', 'b')
    with pytest.raises(SystemExit, match='same folder'):
        tool.check_splits(2, 1, 0, str(tmp_path), str(tmp_path) + '/')
    with pytest.raises(SystemExit, match='meta.json not found'):
        tool.read_seed(str(tmp_path / 'none'), 'selection')


def _result(data, seeds, trained, untrained=None):
    def over(vals):
        m = sum(vals) / len(vals)
        s = (sum((v - m)**2 for v in vals) / len(vals))**0.5
        return dict(mean=m, std=s, values=vals)

    def metrics(vals):
        return dict(over_runs=dict(success=over(vals),
                                   precision=over([2 * v for v in vals])))

    return dict(data=data, seeds=seeds, metrics=metrics(trained),
                untrained=dict(metrics=metrics(untrained))
                if untrained else None)


def _write_split(path, seed):
    path.mkdir(parents=True)
    (path / 'meta.json').write_text(json.dumps(dict(seed=seed)))


def test_table_and_winner_from_existing_runs(tmp_path, capsys):
    """With every candidate's results present nothing is run: the table,
    the winner (highest mean trained AUC) and both files are written."""
    tool = load_tool('select_tracking_head')
    _write_split(tmp_path / 'sel', 2)
    _write_split(tmp_path / 'train', 1)
    data = str(tmp_path / 'sel' / 'otb')
    runs = {'classic': ([30.0, 20.0, 10.0], [12.0, 14.0, 16.0]),
            'exact5': ([33.0, 33.0, 33.0], None),
            'exact10': ([40.0, 30.0, 35.0], [30.0, 30.0, 30.0]),
            'exact20': ([36.0, 34.0, 35.0], None)}
    for name, (trained, untrained) in runs.items():
        (tmp_path / 'work' / name).mkdir(parents=True)
        (tmp_path / 'work' / name / 'tracking_results.json').write_text(
            json.dumps(_result(data, [0, 1, 2], trained, untrained)))
    assert tool.main(['--sel-data', str(tmp_path / 'sel'), '--train-data',
                      str(tmp_path / 'train'), '--work-dir',
                      str(tmp_path / 'work'), '--corr-scales', '5', '10',
                      '20']) == 0
    out = json.loads((tmp_path / 'work' / 'selection.json').read_text())
    # exact10 and exact20 tie at 35.0: the first listed wins
    assert out['winner'] == 'exact10'
    assert 'model.head.corr_scale=10.0' in out['winner_cfg_options']
    assert out['selection_seed'] == 2 and out['train_seed'] == 1
    rows = out['table']
    assert rows[1] == ['classic', '20.0 +- 8.2 (30.0, 20.0, 10.0)',
                       '40.0 +- 16.3 (60.0, 40.0, 20.0)',
                       '14.0 +- 1.6 (12.0, 14.0, 16.0)',
                       '28.0 +- 3.3 (24.0, 28.0, 32.0)']
    assert rows[2][3:] == ['-', '-']
    md = (tmp_path / 'work' / 'selection.md').read_text()
    assert md.splitlines()[0].startswith('| head | trained AUC')
    assert 'winner: exact10' in capsys.readouterr().out


def test_results_from_other_seeds_or_data_are_not_reused(tmp_path):
    tool = load_tool('select_tracking_head')
    path = tmp_path / 'r.json'
    sel = str(tmp_path / 'sel')
    path.write_text(json.dumps(_result(sel + '/otb', [0, 1], [1.0, 2.0])))
    assert tool.load_result(str(path), sel, [0, 1]) is not None
    assert tool.load_result(str(path), sel, [0, 1, 2]) is None
    assert tool.load_result(str(path), str(tmp_path / 'other'), [0, 1]) \
        is None
    assert tool.load_result(str(tmp_path / 'missing.json'), sel, [0]) is None
