"""`make demo`: the whole SeCo pipeline on the embedded demo data.

    python tools/run_demo.py --data data/demo --work-dir work_dirs/demo

Steps (each a documented command of its own, run here as a subprocess so
its progress shows as it works):
  1. demo data       tools/make_demo_data.py --out DATA --seed 0 --workers 2
  2. pretraining     tools/train.py configs/seco_r18_demo_monitor.py --resume
                     (the demo recipe + the k-NN monitor)
  3. export          tools/export_backbone.py CKPT WORK/seco_r18_backbone.pth
  4. linear probe    tools/linear_probe.py --compare-random (SeCo vs random
                     init, 3 seeds) with the paper's protocol: frame-mean
                     features, no scaling, LinearSVC C = 1
  5. tracking        tools/eval_tracking.py ... (SeCo vs random init), the
                     SiamFC adaptation trained on held-out sequences
                     rendered from another seed (DATA_track_train)
  6. summary         per-epoch means of the three pretraining losses (epoch
                     2, peak, last) and the probe/tracking table, printed
                     and written to WORK/summary.json

Re-running is cheap: existing data is kept, pretraining resumes from its
last checkpoint (and does nothing if finished), probe features are cached.
"""
import argparse
import json
import os
import os.path as osp
import sys

from seco_mm.evaluation.training_curves import (SECO_LOSSES, knn_rows,
                                                load_knn_curve, load_scalars,
                                                loss_trend,
                                                plot_training_curves)
from seco_mm.utils.tool_steps import run_tool_step

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the demo recipe plus the online k-NN monitor
PRETRAIN_CONFIG = 'configs/seco_r18_demo_monitor.py'
# probe protocols on frozen features of 8 uniformly spaced frames:
# title -> (--pooling, --standardize, result file). Only the paper's
# protocol, fixed before any result was looked at (docs/demo.md); another
# protocol may be added beside it, never instead of it.
PROBE_PROTOCOLS = {
    'paper (frame mean)': ('mean', 'none', 'linear_probe_paper.json'),
}
DATA_WORKERS = 2  # processes rendering the demo data (same files for any)
TRACKING_CONFIG = 'configs/tracking/siamfc_r18_demo.py'
TRACKING_SEEDS = ('0', '1', '2')
# OMP_NUM_THREADS of every step; pretraining fixes its own count in the
# config (configs/seco_r18_demo.py default_hooks.threads: 1, for bfloat16)
DEMO_THREADS = 2
OPENCV_TRACKERS = ('CSRT', 'KCF')  # reference rows, scored the same way


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='data/demo', help='demo data folder')
    p.add_argument('--work-dir', default='work_dirs/demo')
    p.add_argument('--seed', type=int, default=0, help='demo data seed')
    p.add_argument('--probe-seeds', type=int, nargs='+', default=[0, 1, 2],
                   help='random-init backbones for the probe baseline')
    p.add_argument('--skip-tracking', action='store_true')
    return p.parse_args(argv)


def run(step, args):
    """Run one step as a subprocess from the repository root with
    ``OMP_NUM_THREADS=DEMO_THREADS`` (pretraining then fixes its own count
    through the config's threads hook): one table on every machine of one
    kind. Stop the demo if it fails."""
    return run_tool_step(step, args, DEMO_THREADS, ROOT, job='demo', cwd=ROOT)


def monitor_hook_index(config: str) -> int:
    """Position of the ``KNNMonitorHook`` in ``config``'s ``custom_hooks``
    (the demo points its datasets at the generated data through
    ``--cfg-options custom_hooks.<i>....``)."""
    from mmengine.config import Config
    hooks = Config.fromfile(osp.join(ROOT, config)).get('custom_hooks', [])
    for i, hook in enumerate(hooks):
        if hook.get('type') == 'KNNMonitorHook':
            return i
    raise SystemExit(f'{config}: custom_hooks has no KNNMonitorHook')


def last_checkpoint(work_dir):
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise SystemExit(f'no checkpoint written in {work_dir}')
    with open(marker) as f:
        return f.read().strip()


def summary_rows(probes, tracking):
    """Table rows: backbone, probe top-1 / mean class accuracy per protocol,
    tracking AUC / precision.

    Args:
        probes: ``{protocol title: linear_probe_compare.json dict}``.
    """
    rows = [('backbone',
             *[f'probe top-1 / mean-class (%), {t}' for t in probes],
             'tracking AUC / prec@20 (trained head)',
             'tracking AUC / prec@20 (untrained head)')]

    def auc_prec(m):
        """'AUC / prec' of one result, 'mean +- std' over seeds if several."""
        runs = m.get('over_runs') or {}
        if len((runs.get('success') or {}).get('values', [])) > 1:
            return ' / '.join(f"{runs[k]['mean']:.1f} +- {runs[k]['std']:.1f}"
                              for k in ('success', 'precision'))
        return f"{m['success']:.1f} / {m['precision']:.1f}"

    def track(name):
        if name not in tracking:
            return ('-', '-')
        m = tracking[name]['metrics']
        u = (tracking[name].get('untrained') or {}).get('metrics')
        return auc_prec(m), auc_prec(u) if u else '-'

    def seco(p):
        r = p['results']['seco']
        return f"{100 * r['top1']:.1f} / {100 * r['mean_class_acc']:.1f}"

    def rand(p):
        t, m = (p['random_over_seeds'][k] for k in ('top1', 'mean_class_acc'))
        return (f"{100 * t['mean']:.1f} +- {100 * t['std']:.1f} / "
                f"{100 * m['mean']:.1f} +- {100 * m['std']:.1f}")

    rows.append(('SeCo (demo pretraining)', *map(seco, probes.values()),
                 *track('seco')))
    n = len(next(iter(probes.values()))['random_over_seeds']['seeds'])
    rows.append((f'random init ({n} seeds, mean +- std)',
                 *map(rand, probes.values()), *track('random')))
    if 'random' in tracking:
        b = tracking['random']['static_box_baseline']
        rows.append(('static box (never moves)', *['-'] * len(probes),
                     f"{b['success']:.1f} / {b['precision']:.1f}", '-'))
        for kind, res in tracking['random'].get('opencv_trackers',
                                                {}).items():
            rows.append((f'OpenCV {kind} (no learning)',
                         *['-'] * len(probes), auc_prec(res['metrics']), '-'))
    return rows


def loss_rows(trend):
    """Table rows: each SeCo loss in the reference epoch, its peak, last."""
    e = trend['epochs']
    rows = [('pretraining loss', f"epoch {e['reference']}", 'peak',
             f"epoch {e['last']}", 'decreased')]
    for k in SECO_LOSSES:
        t = trend[k]
        rows.append((k, f"{t['reference']:.3f}", f"{t['peak']:.3f}",
                     f"{t['last']:.3f}", 'yes' if t['decreased'] else 'NO'))
    return rows


def format_table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = ' | '.join(h.ljust(w) for h, w in zip(rows[0], widths))
    out = [line, '-+-'.join('-' * w for w in widths)]
    out += [' | '.join(c.ljust(w) for c, w in zip(r, widths))
            for r in rows[1:]]
    return '\n'.join(out)


def main(argv=None):
    args = parse_args(argv)
    data, work = args.data, args.work_dir
    monitor = monitor_hook_index(PRETRAIN_CONFIG)  # before any work
    os.makedirs(work, exist_ok=True)
    times = {}
    if not osp.isfile(osp.join(data, 'meta.json')):
        times['data'] = run('1/5 demo data', [
            'tools/make_demo_data.py', '--out', data, '--seed',
            str(args.seed), '--workers', str(DATA_WORKERS)])
    else:
        print(f'=== [1/5 demo data] reusing {data}')

    pre_dir = osp.join(work, 'pretrain')
    times['pretrain'] = run('2/5 SeCo pretraining', [
        'tools/train.py', PRETRAIN_CONFIG, '--work-dir', pre_dir, '--resume',
        '--cfg-options', f'train_dataloader.dataset.ann_file={data}/train.txt',
        f'train_dataloader.dataset.data_prefix.video={data}/videos',
        *(f'custom_hooks.{monitor}.{split}_dataset.{key}={value}'
          for split in ('train', 'val')
          for key, value in (('ann_file', f'{data}/{split}.txt'),
                             ('data_prefix.video', f'{data}/videos')))])
    backbone = osp.join(work, 'seco_r18_backbone.pth')
    times['export'] = run('3/5 export backbone', [
        'tools/export_backbone.py', last_checkpoint(pre_dir), backbone])

    probe_dir = osp.join(work, 'linear_probe')
    probes = {}
    for title, (pooling, standardize, out_name) in PROBE_PROTOCOLS.items():
        out = osp.join(probe_dir, out_name)
        times[f'probe_{pooling}'] = run(
            f'4/5 linear probe ({title}): SeCo vs random init', [
                'tools/linear_probe.py', '--checkpoint', backbone,
                '--compare-random', '--seeds', *map(str, args.probe_seeds),
                '--depth', '18', '--train-list', f'{data}/train.txt',
                '--val-list', f'{data}/val.txt', '--data-prefix',
                f'{data}/videos', '--work-dir', probe_dir, '--num-frames',
                '8', '--resize', '72', '--crop-size', '64', '--pooling',
                pooling, '--standardize', standardize, '--out', out])
        with open(out) as f:
            probes[title] = json.load(f)

    tracking = {}
    if not args.skip_tracking:
        train_seqs = data.rstrip('/') + '_track_train'
        if not osp.isfile(osp.join(train_seqs, 'meta.json')):
            times['tracking_data'] = run('5/5 held-out tracking sequences', [
                'tools/make_demo_data.py', '--out', train_seqs, '--seed',
                str(args.seed + 1), '--num-train', '1', '--num-val', '1'])
        for name, source in (('seco', ['--checkpoint', backbone]),
                             ('random', ['--random-init'])):
            out_dir = osp.join(work, f'tracking_{name}')
            compare = ([] if name == 'seco' else [
                '--compare', osp.join(work, 'tracking_seco',
                                      'tracking_results.json'),
                '--opencv-trackers', *OPENCV_TRACKERS])
            times[f'tracking_{name}'] = run(
                f'5/5 tracking ({name})', [
                    'tools/eval_tracking.py', TRACKING_CONFIG, *source,
                    '--data', f'{data}/otb', '--work-dir', out_dir, '--train',
                    '--train-data', f'{train_seqs}/otb', '--eval-untrained',
                    '--seeds', *TRACKING_SEEDS, '--name', name, *compare])
            with open(osp.join(out_dir, 'tracking_results.json')) as f:
                tracking[name] = json.load(f)

    records = load_scalars(pre_dir)
    trend, knn = loss_trend(records), load_knn_curve(pre_dir)
    curves_png = plot_training_curves(
        records, knn, osp.join(work, 'training_curves.png'))
    rows, losses = summary_rows(probes, tracking), loss_rows(trend)
    table = format_table(losses) + '\n\n' + format_table(rows)
    if knn:
        table += '\n\n' + format_table(knn_rows(knn))
    probe_summary = {
        title: dict(protocol=p.get('protocol'), results=p['results'],
                    random_over_seeds=p['random_over_seeds'],
                    seco_minus_random_top1=p['seco_minus_random_top1'])
        for title, p in probes.items()}
    plots = [curves_png]
    if tracking:
        plots += [osp.join(work, 'tracking_random', p)
                  for p in ('success_plot.png', 'precision_plot.png')]
    summary = dict(table=rows, losses=trend, knn_monitor=knn, seconds=times,
                   probe=probe_summary, tracking=tracking, plots=plots)
    with open(osp.join(work, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1, default=str)
    print('\n' + table)
    print(f'\nsteps (s): ' + ', '.join(f'{k} {v:.0f}' for k, v in
                                       times.items()))
    print(f'written: {osp.join(work, "summary.json")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
