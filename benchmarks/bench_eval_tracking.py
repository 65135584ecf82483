"""tools/eval_tracking.py end to end: the old path against the new, one run.

The demo's tracking step (tools/run_demo.py) evaluates a backbone over seeds
0 1 2: per seed the untrained tracker, training, the trained tracker. Two
ways of running the same command, timed side by side (``--rounds`` rounds,
order rotated per round) as subprocesses, so import and start-up count:

- ``old``  ``--workers 1 --no-reuse``: one process, every job in turn;
- ``new``  the tool's defaults (or ``--workers N``): the jobs in worker
  processes, the untrained tracker of a loaded backbone evaluated once.

Both write tracking_results.json; the script compares the tracking scores
(every metric, curve, per-seed and reference value) and the whole file except
timings (``fps``, ``seconds``) and the process layout (``torch_threads``,
``workers``), and prints the speed-up (old / new wall time, per round,
median). With OMP_NUM_THREADS=2 the old path runs each job on 2 threads and
the new one on 1 per worker: the training log's final loss (a multi-threaded
sum) may then differ in its last bits.

    OMP_NUM_THREADS=2 python benchmarks/bench_eval_tracking.py \\
        --data data/demo/otb --train-data data/demo_track_train/otb \\
        --checkpoint work_dirs/demo/seco_r18_backbone.pth
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

from common import (ROOT, add_common_args, environment, fmt_ratio,
                    markdown_table, ratio_stats, stats, write_json)

TOOL = osp.join(ROOT, 'tools', 'eval_tracking.py')
CONFIG = osp.join(ROOT, 'configs', 'tracking', 'siamfc_r18_demo.py')
TIMING_KEYS = {'fps', 'seconds', 'torch_threads', 'workers', 'work_dir'}
# the tracking scores (what the demo reports); the training log's last loss
# is left out here: it is a multi-threaded sum, which may differ in its last
# bits when the thread count per process changes
METRIC_KEYS = ('metrics', 'untrained', 'opencv_trackers',
               'static_box_baseline')
SEED_METRIC_KEYS = ('success', 'precision', 'norm_precision', 'untrained')


def tracking_scores(res):
    """The scores of a result file, without timings or training logs."""
    out = {k: without_timing(res.get(k)) for k in METRIC_KEYS}
    out['per_seed'] = [{k: r.get(k) for k in SEED_METRIC_KEYS}
                       for r in res['per_seed']]
    return out


def without_timing(obj):
    """The result file minus timing and process-layout fields."""
    if isinstance(obj, dict):
        return {k: without_timing(v) for k, v in obj.items()
                if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [without_timing(v) for v in obj]
    return obj


def differences(a, b, path=''):
    """Paths where two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f'{path}/{k} (missing on one side)')
            else:
                out += differences(a[k], b[k], f'{path}/{k}')
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (u, v) in enumerate(zip(a, b))
                for d in differences(u, v, f'{path}[{i}]')]
    return [] if a == b else [path]


def tool_command(args, work_dir, variant):
    src = (['--checkpoint', args.checkpoint] if args.checkpoint else
           ['--random-init'])
    cmd = [sys.executable, TOOL, args.config, *src, '--data', args.data,
           '--work-dir', work_dir, '--train', '--train-data',
           args.train_data or args.data, '--eval-untrained', '--seeds',
           *map(str, args.seeds), '--no-progress']
    if args.opencv_trackers:
        cmd += ['--opencv-trackers', *args.opencv_trackers]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if variant == 'old':
        cmd += ['--workers', '1', '--no-reuse']
    elif args.workers:
        cmd += ['--workers', str(args.workers)]
    if args.cfg_options:
        cmd += ['--cfg-options', *args.cfg_options]
    return cmd


def run_variant(args, variant, rnd):
    work_dir = osp.join(args.work_dir, f'{variant}_round{rnd}')
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    t0 = time.perf_counter()
    proc = subprocess.run(tool_command(args, work_dir, variant), cwd=ROOT,
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f'{variant} run failed ({proc.returncode}):\n'
                         f'{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}')
    with open(osp.join(work_dir, 'tracking_results.json')) as f:
        return seconds, json.load(f)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', required=True, help='OTB-layout test folder')
    p.add_argument('--train-data', help='training sequences (default: '
                   '--data)')
    p.add_argument('--checkpoint', help='backbone export (default: random '
                   'init)')
    p.add_argument('--config', default=CONFIG)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--opencv-trackers', nargs='*', default=[])
    p.add_argument('--workers', type=int, default=0,
                   help='--workers of the new path (0: the tool default)')
    p.add_argument('--threads', type=int, default=0,
                   help='--threads of both paths (0: OMP_NUM_THREADS)')
    p.add_argument('--rounds', type=int, default=1)
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'bench',
                                                  'eval_tracking'))
    p.add_argument('--cfg-options', nargs='+', default=None,
                   help='passed to both runs, e.g. a shorter schedule')
    add_common_args(p, 'eval_tracking', device=False)
    args = p.parse_args(argv)

    seconds = {'old': [], 'new': []}
    results = {}
    for rnd in range(args.rounds):
        order = ['old', 'new'] if rnd % 2 == 0 else ['new', 'old']
        for variant in order:
            secs, res = run_variant(args, variant, rnd)
            seconds[variant].append(secs)
            results.setdefault(variant, res)
            print(f'round {rnd} {variant}: {secs:.1f} s (workers '
                  f"{res.get('workers', 1)}, {res['torch_threads']} "
                  'thread(s) each)', flush=True)
    diff = differences(without_timing(results['old']),
                       without_timing(results['new']))
    score_diff = differences(tracking_scores(results['old']),
                             tracking_scores(results['new']))
    ratio = ratio_stats(seconds['old'], seconds['new'])
    out = dict(benchmark='eval_tracking', args=vars(args),
               env=environment('cpu'),
               seconds={k: stats(v) for k, v in seconds.items()},
               speedup=ratio, identical=not diff, differences=diff[:20],
               scores_identical=not score_diff,
               new_workers=results['new'].get('workers'),
               new_threads=results['new']['torch_threads'])
    rows = [[k, f"{out['seconds'][k]['median']:.1f}"] for k in ('old', 'new')]
    out['markdown'] = (
        f'**tools/eval_tracking.py, old vs new path** ({args.data}, seeds '
        f'{args.seeds}, {"checkpoint" if args.checkpoint else "random init"}'
        f', {args.rounds} round(s)): speed-up {fmt_ratio(ratio)}; tracking '
        f"scores {'identical' if not score_diff else 'DIFFERENT'}; result "
        + ('file identical' if not diff else
           'file differs in ' + ', '.join(diff[:5]))
        + '\n\n' + markdown_table(['path', 'wall s (median)'], rows))
    print(out['markdown'])
    write_json(out, args.json_out)
    return out


if __name__ == '__main__':
    main()
