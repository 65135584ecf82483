"""tools/run_ablation.py: the commands it runs, the table math, and (slow)
a tiny end-to-end ablation on generated demo data."""
import json
import os
import os.path as osp

import pytest

from tests.conftest import ROOT, load_tool

CONFIGS = ('moco_v2_r18_demo_frames', 'seco_r18_demo_inter',
           'seco_r18_demo_inter_intra', 'seco_r18_demo_inter_order',
           'seco_r18_demo_full')


def _probe_json(path, top1, mean_class=None):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(dict(protocol=dict(frames_per_video=8, crop='centre 64x64',
                                     C=1.0, num_train=18, num_val=9),
                       results=dict(checkpoint=dict(
                           top1=top1, mean_class_acc=mean_class or top1))),
                  f)


def test_mean_std_and_markdown_table():
    tool = load_tool('run_ablation')
    assert tool.mean_std([0.30, 0.40]) == pytest.approx((0.35, 0.05))
    assert tool.mean_std([0.2]) == (0.2, 0.0)
    rows = [tool.make_row('seco_r18_demo_full', 'inter + intra + order',
                          {0: 0.40, 1: 0.30}),
            tool.make_row('random init (R18)', 'none (not trained)',
                          {0: 0.10, 2: 0.22})]
    assert rows[0]['mean'] == pytest.approx(0.35)
    assert rows[0]['std'] == pytest.approx(0.05)  # population, ddof=0
    assert tool.markdown_table(rows).splitlines() == [
        '| config | on | top-1 seed 0 (%) | top-1 seed 1 (%) | '
        'top-1 seed 2 (%) | mean +- std (%) |',
        '|---|---|---:|---:|---:|---:|',
        '| seco_r18_demo_full | inter + intra + order | 40.0 | 30.0 | - | '
        '35.0 +- 5.0 |',
        '| random init (R18) | none (not trained) | 10.0 | - | 22.0 | '
        '16.0 +- 6.0 |']


def test_configs_say_what_they_turn_on():
    tool = load_tool('run_ablation')
    labels = {}
    for name in CONFIGS:
        info = tool.describe_config(
            osp.join(ROOT, 'configs', 'ablation', f'{name}.py'))
        assert info['depth'] == 18 and info['max_epochs'] == 50
        labels[name] = info['label']
    assert labels == {
        'moco_v2_r18_demo_frames': 'moco (1 frame, 2 views)',
        'seco_r18_demo_inter': 'inter',
        'seco_r18_demo_inter_intra': 'inter + intra',
        'seco_r18_demo_inter_order': 'inter + order',
        'seco_r18_demo_full': 'inter + intra + order'}
    assert tool.heads_label(('inter', ), 'same_frame') == 'moco'


def test_dry_run_lists_every_command(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    tool = load_tool('run_ablation')
    work = str(tmp_path / 'abl')
    argv = ['--dry-run', '--work-dir', work, '--data-root', 'd',
            '--epochs', '3', '--cfg-options', 'train_dataloader.batch_size=8']
    assert tool.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 * 2 * 3 + 2  # configs x seeds x steps + random
    train = [ln for ln in lines if 'tools/train.py' in ln]
    assert [ln.split()[2] for ln in train[::2]] == [
        f'configs/ablation/{c}.py' for c in CONFIGS]
    wd = osp.join(work, 'moco_v2_r18_demo_frames_s1')
    assert train[1] == (
        'python tools/train.py configs/ablation/moco_v2_r18_demo_frames.py '
        f'--work-dir {wd} --resume --no-progress --cfg-options '
        'randomness.seed=1 train_dataloader.dataset.ann_file=d/train.txt '
        'train_dataloader.dataset.data_prefix.video=d/videos '
        'train_cfg.max_epochs=3 train_dataloader.batch_size=8')
    assert lines[4] == (f'python tools/export_backbone.py {wd}/epoch_3.pth '
                        f'{wd}/backbone.pth')
    assert lines[5] == (
        f'python tools/linear_probe.py --checkpoint {wd}/backbone.pth '
        '--train-list d/train.txt --val-list d/val.txt --data-prefix '
        f'd/videos --work-dir {wd}/probe --num-frames 8 --resize 72 '
        '--crop-size 64 --pooling mean --standardize none --C 1 '
        f'--no-progress --out {wd}/linear_probe_paper.json')
    assert lines[-1].startswith(
        'python tools/linear_probe.py --random-init --depth 18 --seed 1 ')
    # training keeps the config's thread count unless --train-threads says
    assert tool.main(argv + ['--train-threads', '2']) == 0
    train = [ln for ln in capsys.readouterr().out.splitlines()
             if 'tools/train.py' in ln]
    assert all(' default_hooks.threads.num_threads=2 ' in ln for ln in train)
    # a finished run (final checkpoint) is skipped; its export is not
    os.makedirs(wd)
    open(osp.join(wd, 'epoch_3.pth'), 'w').close()
    tool.main(['configs/ablation/moco_v2_r18_demo_frames.py'] + argv)
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].startswith('# done, skipped: python tools/train.py')
    assert not lines[0].startswith('#') and not lines[4].startswith('#')
    # without --epochs the config's length names the final checkpoint
    tool.main(['configs/ablation/seco_r18_demo_full.py', '--dry-run',
               '--work-dir', work, '--seeds', '5'])
    out = capsys.readouterr().out
    assert 'epoch_50.pth' in out and 'max_epochs' not in out
    assert '--seed 5 ' in out  # random seeds follow --seeds


def test_results_are_collected_into_json_and_markdown(tmp_path):
    tool = load_tool('run_ablation')
    work = str(tmp_path)
    args = tool.parse_args([
        osp.join(ROOT, 'configs/ablation/seco_r18_demo_full.py'),
        '--work-dir', work, '--seeds', '0', '1', '--random-seeds', '0', '1',
        '--epochs', '2'])
    infos = [tool.describe_config(c) for c in args.configs]
    for seed, top1 in ((0, 0.5), (1, 0.3)):
        _probe_json(osp.join(work, f'seco_r18_demo_full_s{seed}',
                             'linear_probe_paper.json'), top1)
        _probe_json(osp.join(work, f'random_init_r18_s{seed}',
                             'linear_probe_paper.json'), 0.1 * (seed + 1))
    summary = tool.collect(args, infos)
    paths = tool.write_outputs(summary, work)
    with open(paths['json']) as f:
        saved = json.load(f)
    full, rand = saved['rows']
    assert full['name'] == 'seco_r18_demo_full'
    assert full['heads'] == ['inter', 'intra', 'order']
    assert full['top1'] == {'0': 0.5, '1': 0.3} and full['epochs'] == 2
    assert full['mean'] == pytest.approx(0.4)
    assert full['std'] == pytest.approx(0.1)
    assert rand['name'] == 'random init (R18)'
    assert rand['mean'] == pytest.approx(0.15)
    md = open(paths['md']).read()
    assert '8 frames per video' in md and 'C = 1.0' in md
    assert '| seco_r18_demo_full | inter + intra + order | 50.0 | 30.0 | ' \
        '40.0 +- 10.0 |' in md
    assert '| random init (R18) | none (not trained) | 10.0 | 20.0 | ' \
        '15.0 +- 5.0 |' in md


@pytest.mark.slow
def test_tiny_ablation_end_to_end(tmp_path, monkeypatch, capsys):
    """2 configs x 1 seed x 1 epoch on 18 + 9 generated 64 px clips."""
    from demo_data import DemoDataConfig, generate_demo_data
    monkeypatch.chdir(ROOT)
    data = str(tmp_path / 'data')
    generate_demo_data(DemoDataConfig(out=data, num_train=18, num_val=9,
                                      frames=8, size=64,
                                      num_tracking_frames=10))
    work = str(tmp_path / 'work')
    tool = load_tool('run_ablation')
    argv = ['configs/ablation/seco_r18_demo_inter.py',
            'configs/ablation/moco_v2_r18_demo_frames.py', '--data-root',
            data, '--work-dir', work, '--seeds', '0', '--epochs', '1',
            '--threads', '1', '--cfg-options', 'train_dataloader.batch_size=4',
            'train_dataloader.num_workers=0', 'model.queue_len=16']
    assert tool.main(argv) == 0
    with open(osp.join(work, 'ablation.json')) as f:
        saved = json.load(f)
    rows = {r['name']: r for r in saved['rows']}
    assert list(rows) == ['seco_r18_demo_inter', 'moco_v2_r18_demo_frames',
                          'random init (R18)']
    assert rows['moco_v2_r18_demo_frames']['on'] == 'moco (1 frame, 2 views)'
    assert rows['moco_v2_r18_demo_frames']['one_frame'] is True
    for row in saved['rows']:
        assert list(row['top1']) == ['0'] and row['std'] == 0.0
        assert 0.0 <= row['top1']['0'] <= 1.0
        assert row['mean'] == row['top1']['0']
    assert saved['probe_protocol']['pooling'] == 'mean'
    assert saved['probe_protocol']['standardisation'] == 'none'
    assert saved['probe_protocol']['num_val'] == 9
    for name in ('seco_r18_demo_inter', 'moco_v2_r18_demo_frames'):
        assert osp.isfile(osp.join(work, f'{name}_s0', 'epoch_1.pth'))
        assert osp.isfile(osp.join(work, f'{name}_s0', 'backbone.pth'))
    md = open(osp.join(work, 'ablation.md')).read().splitlines()
    table = [ln for ln in md if ln.startswith('| ')]
    assert len(table) == 1 + 3
    assert table[2].startswith('| moco_v2_r18_demo_frames | moco (1 frame, '
                               '2 views) | ')
    # everything done: a second run only reads the results back
    capsys.readouterr()
    assert tool.main(['--dry-run'] + argv) == 0
    assert all(ln.startswith('# done, skipped: ')
               for ln in capsys.readouterr().out.splitlines())
