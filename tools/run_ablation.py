"""The paper's ablation (inter / intra / order tasks, MoCo v2 on frames),
reproduced on the demo set: train, export, linear-probe, tabulate.

    python tools/run_ablation.py                      # configs/ablation/*.py
    python tools/run_ablation.py configs/ablation/seco_r18_demo_inter.py \\
        --seeds 0 1 2 --epochs 10 --data-root data/demo
    python tools/run_ablation.py --dry-run            # print the commands

For each config and each seed (``--seeds``, default 0 1), as subprocesses:
  1. train    tools/train.py CONFIG --work-dir WORK/<name>_s<S> --resume
              --no-progress --cfg-options randomness.seed=S (data paths,
              ``train_cfg.max_epochs`` with ``--epochs``; tools/train.py
              resizes the warm-up + cosine schedule to the new length)
  2. export   tools/export_backbone.py epoch_<E>.pth backbone.pth (same dir)
  3. probe    tools/linear_probe.py, the paper's protocol only: frame-mean
              pooling, no feature scaling, linear SVM C = 1, train list ->
              val list (8 frames, short side resized to 72, centre crop
              64: the sizes ``make demo`` probes with)
and a random-init backbone of the same depth per ``--random-seeds``
(default: the training seeds), probed the same way. Results go to
``WORK/ablation.json`` and the markdown table ``WORK/ablation.md``
(WORK = ``--work-dir``, default work_dirs/ablation).

Resumable: a run whose final checkpoint (epoch_<E>.pth) exists is not
trained again, an interrupted one continues from its last checkpoint, and
an export or probe newer than its input is reused. docs/ablation.md.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from seco_mm.utils.tool_steps import command_line, run_tool_step

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ABLATION_CONFIGS = 'configs/ablation'
# the paper's linear protocol at the demo's sizes (tools/run_demo.py probes
# with the same frames / resize / crop)
PAPER_PROBE = ('--num-frames', '8', '--resize', '72', '--crop-size', '64',
               '--pooling', 'mean', '--standardize', 'none', '--C', '1')
PROBE_JSON = 'linear_probe_paper.json'
RANDOM_NAME = 'random_init'
# default row order: the baseline, then the tasks added one at a time
TABLE_ORDER = ('moco_v2_r18_demo_frames', 'seco_r18_demo_inter',
               'seco_r18_demo_inter_intra', 'seco_r18_demo_inter_order',
               'seco_r18_demo_full')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('configs', nargs='*',
                   help=f'configs to run (default: every {ABLATION_CONFIGS}'
                   '/*.py)')
    p.add_argument('--data-root', default='data/demo',
                   help='demo data folder: train.txt, val.txt, videos/')
    p.add_argument('--work-dir', default='work_dirs/ablation')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1],
                   help='training seeds (randomness.seed), one run each')
    p.add_argument('--random-seeds', type=int, nargs='+', default=None,
                   help='random-init backbones probed as the baseline row '
                   '(default: the --seeds)')
    p.add_argument('--epochs', type=int, default=None,
                   help='override train_cfg.max_epochs (the schedule is '
                   "resized by tools/train.py); default: the config's")
    p.add_argument('--cfg-options', nargs='+', default=[],
                   metavar='KEY=VALUE',
                   help='more tools/train.py --cfg-options for every '
                   'training run, applied last (e.g. '
                   'train_dataloader.batch_size=16)')
    p.add_argument('--threads', type=int, default=2,
                   help='OMP_NUM_THREADS of every step (the probes use it; '
                   "training fixes its own count, the config's "
                   'default_hooks.threads)')
    p.add_argument('--train-threads', type=int, default=None,
                   help="override the training config's "
                   'default_hooks.threads.num_threads (the demo recipe: 1, '
                   'for bfloat16)')
    p.add_argument('--dry-run', action='store_true',
                   help='print the commands (and which are skipped as done) '
                   'without running them')
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error(f'--epochs must be >= 1, got {args.epochs}')
    for name in ('threads', 'train_threads'):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.random_seeds is None:
        args.random_seeds = list(args.seeds)
    if not args.configs:
        args.configs = sorted(
            glob.glob(osp.join(ROOT, ABLATION_CONFIGS, '*.py')),
            key=_table_position)
        if not args.configs:
            p.error(f'no config in {ABLATION_CONFIGS}')
    args.configs = [short_path(c) for c in args.configs]
    return args


def _table_position(path: str) -> tuple:
    stem = osp.splitext(osp.basename(path))[0]
    return (TABLE_ORDER.index(stem) if stem in TABLE_ORDER else
            len(TABLE_ORDER), stem)


def short_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it
    (commands then read as in the docs), else absolute."""
    rel = osp.relpath(osp.abspath(path))
    return osp.abspath(path) if rel.startswith('..') else rel


def tool(name: str) -> str:
    """tools/<name>.py, as the commands name it (paths in the commands are
    relative to the working directory the ablation runs from)."""
    return short_path(osp.join(ROOT, 'tools', f'{name}.py'))


# ---- what each config turns on --------------------------------------------
def describe_config(path: str) -> dict:
    """Name, active tasks, schedule length and depth of an ablation config.

    Returns:
        dict: ``name`` (file stem), ``heads`` (active loss heads),
        ``inter_keys``, ``one_frame`` (one frame sampled per clip),
        ``label`` (the table's "on" column), ``max_epochs``, ``depth``.
    """
    from mmengine.config import Config

    from seco_mm.models.algorithms.seco import active_heads
    cfg = Config.fromfile(path)
    heads = active_heads(cfg.model)
    inter_keys = cfg.model.get('inter_keys', 'all')
    pipeline = cfg.train_dataloader.dataset.get('pipeline') or []
    one_frame = any(t.get('one_frame', False) for t in pipeline
                    if t.get('type') in ('SeCoSampleFrames',
                                         'SeCoSampleIndices'))
    return dict(name=osp.splitext(osp.basename(path))[0], config=path,
                heads=list(heads), inter_keys=inter_keys,
                one_frame=one_frame,
                label=heads_label(heads, inter_keys, one_frame),
                max_epochs=int(cfg.train_cfg.max_epochs),
                depth=int(cfg.model.backbone.depth))


def heads_label(heads: Sequence[str], inter_keys: str,
                one_frame: bool = False) -> str:
    """The "on" column: ``inter + intra + order``, or ``moco`` (MoCo v2 on
    frames: the inter task alone with k_same as its only positive)."""
    if tuple(heads) == ('inter', ) and inter_keys == 'same_frame':
        return 'moco (1 frame, 2 views)' if one_frame else 'moco'
    return ' + '.join(heads)


# ---- the commands ----------------------------------------------------------
def _newer(path: str, than: str) -> bool:
    return (osp.isfile(path) and osp.isfile(than)
            and os.stat(path).st_mtime_ns >= os.stat(than).st_mtime_ns)


def plan(args, infos: Sequence[dict]) -> List[dict]:
    """Every step, in order: ``dict(step, argv, skip)``.

    ``argv`` is a tools/ script and its arguments (run with this Python);
    ``skip`` is True when its output is already there (final checkpoint,
    an export newer than that checkpoint, a probe JSON newer than its
    backbone). Later steps of a run that is not done yet are not skipped.
    """
    data, work = args.data_root, args.work_dir
    lists = ['--train-list', f'{data}/train.txt', '--val-list',
             f'{data}/val.txt', '--data-prefix', f'{data}/videos']
    steps = []
    for info in infos:
        epochs = args.epochs or info['max_epochs']
        for seed in args.seeds:
            wd = osp.join(work, f"{info['name']}_s{seed}")
            ckpt = osp.join(wd, f'epoch_{epochs}.pth')
            backbone = osp.join(wd, 'backbone.pth')
            out = osp.join(wd, PROBE_JSON)
            options = [f'randomness.seed={seed}',
                       f'train_dataloader.dataset.ann_file={data}/train.txt',
                       f'train_dataloader.dataset.data_prefix.video={data}'
                       '/videos']
            if args.train_threads is not None:
                options.append('default_hooks.threads.num_threads='
                               f'{args.train_threads}')
            if args.epochs is not None:
                options.append(f'train_cfg.max_epochs={args.epochs}')
            options += args.cfg_options
            trained = osp.isfile(ckpt)
            exported = trained and _newer(backbone, ckpt)
            steps += [
                dict(step=f"train {info['name']} seed {seed}", argv=[
                    tool('train'), info['config'], '--work-dir', wd,
                    '--resume', '--no-progress', '--cfg-options', *options],
                    skip=trained),
                dict(step=f"export {info['name']} seed {seed}", argv=[
                    tool('export_backbone'), ckpt, backbone],
                    skip=exported),
                dict(step=f"probe {info['name']} seed {seed}", argv=[
                    tool('linear_probe'), '--checkpoint', backbone,
                    *lists, '--work-dir', osp.join(wd, 'probe'),
                    *PAPER_PROBE, '--no-progress', '--out', out],
                    skip=exported and _newer(out, backbone)),
            ]
    for depth in sorted({info['depth'] for info in infos}):
        for seed in args.random_seeds:
            wd = osp.join(work, random_dir(depth, seed))
            out = osp.join(wd, PROBE_JSON)
            steps.append(dict(step=f'probe random init R{depth} seed {seed}',
                              argv=[tool('linear_probe'), '--random-init',
                                    '--depth', str(depth), '--seed',
                                    str(seed), *lists, '--work-dir',
                                    osp.join(wd, 'probe'), *PAPER_PROBE,
                                    '--no-progress', '--out', out],
                              skip=osp.isfile(out)))
    return steps


def random_dir(depth: int, seed: int) -> str:
    return f'{RANDOM_NAME}_r{depth}_s{seed}'


def run_step(step: dict, threads: int) -> float:
    """Run one step (this Python, the working directory, ``threads`` torch
    threads); stop the ablation, naming the step, if it fails. Returns its
    seconds."""
    return run_tool_step(step['step'], step['argv'], threads, ROOT,
                         job='ablation')


# ---- the table -------------------------------------------------------------
def mean_std(values: Sequence[float]) -> tuple:
    """Mean and population standard deviation (ddof = 0, as
    tools/linear_probe.py's random-init summary)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std())


def make_row(name: str, label: str, top1: Dict[int, float],
             **extra) -> dict:
    """One table row: top-1 (fraction) per seed and their mean +- std."""
    mean, std = mean_std(list(top1.values()))
    return dict(name=name, on=label, top1={int(s): float(v)
                                           for s, v in top1.items()},
                mean=mean, std=std, **extra)


def markdown_table(rows: Sequence[dict]) -> str:
    """Markdown: config | on | top-1 (%) per seed | mean +- std (%).

    A seed a row has no run for shows ``-``.
    """
    seeds = sorted({s for r in rows for s in r['top1']})
    head = ['config', 'on', *[f'top-1 seed {s} (%)' for s in seeds],
            'mean +- std (%)']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '|'.join(['---'] * 2 + ['---:'] * (len(seeds) + 1)) + '|']
    for r in rows:
        cells = [r['name'], r['on']]
        cells += [f"{100 * r['top1'][s]:.1f}" if s in r['top1'] else '-'
                  for s in seeds]
        cells.append(f"{100 * r['mean']:.1f} +- {100 * r['std']:.1f}")
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _probe_top1(path: str) -> dict:
    with open(path) as f:
        report = json.load(f)
    (result, ) = report['results'].values()
    return dict(top1=result['top1'], mean_class_acc=result['mean_class_acc'],
                protocol=report.get('protocol'))


def collect(args, infos: Sequence[dict]) -> dict:
    """Read every probe JSON into the ablation summary (rows + protocol)."""
    rows, protocol = [], None
    for info in infos:
        top1, runs = {}, {}
        for seed in args.seeds:
            wd = osp.join(args.work_dir, f"{info['name']}_s{seed}")
            res = _probe_top1(osp.join(wd, PROBE_JSON))
            protocol = protocol or res['protocol']
            top1[seed] = res['top1']
            runs[seed] = dict(work_dir=wd, probe_json=osp.join(wd, PROBE_JSON),
                              mean_class_acc=res['mean_class_acc'])
        rows.append(make_row(info['name'], info['label'], top1,
                             config=info['config'], heads=info['heads'],
                             inter_keys=info['inter_keys'],
                             one_frame=info['one_frame'],
                             epochs=args.epochs or info['max_epochs'],
                             runs=runs))
    for depth in sorted({info['depth'] for info in infos}):
        top1, runs = {}, {}
        for seed in args.random_seeds:
            out = osp.join(args.work_dir, random_dir(depth, seed), PROBE_JSON)
            res = _probe_top1(out)
            top1[seed] = res['top1']
            runs[seed] = dict(probe_json=out,
                              mean_class_acc=res['mean_class_acc'])
        rows.append(make_row(f'random init (R{depth})', 'none (not trained)',
                             top1, heads=[], runs=runs))
    return dict(rows=rows, probe_protocol=protocol,
                seeds=list(args.seeds), random_seeds=list(args.random_seeds),
                data_root=args.data_root, epochs_override=args.epochs,
                std='population standard deviation over seeds (ddof=0)',
                table=markdown_table(rows))


def describe(summary: dict) -> str:
    """The protocol paragraph above the markdown table."""
    p = summary.get('probe_protocol') or {}
    epochs = summary['epochs_override']
    length = (f'train_cfg.max_epochs={epochs} (overridden)' if epochs else
              "each config's schedule")
    return ('Linear probe, the paper\'s protocol: frozen backbone, '
            f"{p.get('frames_per_video', '?')} frames per video, "
            f"{p.get('crop', '?')} crop, frame-mean pooling, no feature "
            f"scaling, linear SVM C = {p.get('C', '?')}; trained on "
            f"{p.get('num_train', '?')} train videos, top-1 on "
            f"{p.get('num_val', '?')} val videos. Pretraining: "
            f"{length}, seeds {summary['seeds']}; random init: init seeds "
            f"{summary['random_seeds']}. std: {summary['std']}.")


def write_outputs(summary: dict, work_dir: str) -> Dict[str, str]:
    """``ablation.json`` and ``ablation.md`` in ``work_dir``."""
    os.makedirs(work_dir, exist_ok=True)
    paths = dict(json=osp.join(work_dir, 'ablation.json'),
                 md=osp.join(work_dir, 'ablation.md'))
    with open(paths['json'], 'w') as f:
        json.dump(summary, f, indent=1, default=str)
    with open(paths['md'], 'w') as f:
        f.write(f"# SeCo ablation on the demo set\n\n{describe(summary)}"
                f"\n\n{summary['table']}\n")
    return paths


def main(argv=None) -> int:
    args = parse_args(argv)
    infos = [describe_config(c) for c in args.configs]
    steps = plan(args, infos)
    if args.dry_run:
        for s in steps:
            mark = '# done, skipped: ' if s['skip'] else ''
            print(f"{mark}{command_line(s['argv'])}")
        return 0
    times = {}
    for s in steps:
        if s['skip']:
            print(f"=== [{s['step']}] done, skipped", flush=True)
            continue
        times[s['step']] = run_step(s, args.threads)
    summary = collect(args, infos)
    summary['seconds'] = times
    paths = write_outputs(summary, args.work_dir)
    print('\n' + summary['table'])
    print(f"\nwritten: {paths['json']}, {paths['md']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
