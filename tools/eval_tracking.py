"""Evaluate a (SeCo) backbone as a SiamFC tracker on OTB-layout sequences.

One-pass evaluation (OPE): success AUC, precision at 20 px, normalised
precision, per sequence and overall, written to WORK_DIR/tracking_results.json
with WORK_DIR/success_plot.png and WORK_DIR/precision_plot.png.

Usage:
    python tools/eval_tracking.py CONFIG (--checkpoint BACKBONE.pth |
        --random-init) --data OTB_ROOT --work-dir DIR
        [--train [--train-data SEQ_ROOT] [--eval-untrained]]
        [--load-from SIAMFC.pth] [--name NAME] [--seeds 0 1 2]
        [--opencv-trackers CSRT KCF] [--otb-toolkit-rules]
        [--compare OTHER/tracking_results.json ...] [--workers N]

--train first trains the SiamFC adaptation (1x1 adjust layers; the
backbone too if the config sets freeze_backbone=False) with mmengine's Runner
on frame pairs from --train-data (default: the config's train_data_root);
--eval-untrained also scores the tracker before that training (pure
backbone feature matching). --compare overlays earlier runs in the plots.
--seeds repeats everything seeded (random-init backbone, head init, training
pairs) once per seed and reports mean +- std over them (docs/tracking.md);
--opencv-trackers adds OpenCV's CSRT / KCF as reference rows scored by the
same metrics; --otb-toolkit-rules scores with the original OTB toolkit's
invalid-frame rules instead of mmtracking's. Every input is checked before
any tracking or training starts.

Speed (the numbers are the same either way): on CPU the independent jobs
(per seed: the untrained tracker, training + the trained tracker; the OpenCV
references) run in --workers processes, by default one per torch thread
(OMP_NUM_THREADS=2: two single-threaded processes); an untrained tracker
whose weights equal an earlier seed's (a loaded backbone: the same for every
seed) is evaluated once (--no-reuse: every seed).
"""
import os

# Tracking runs many small ops per frame; with OpenMP's default spin-waiting,
# two threads on a busy 2-core machine were measured 10x slower than one
# (2.2 vs 26 frames/s); passive waiting removes that (30 frames/s). Must be
# set before torch loads its OpenMP runtime; an explicit setting wins.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import os.path as osp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# seco_mm first: compat fixes before mmaction.models
import seco_mm  # noqa: E402,F401
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.fileio import dump  # noqa: E402
from mmengine.runner import set_random_seed  # noqa: E402

from mmaction.registry import DATASETS  # noqa: E402
from seco_mm.evaluation.sot_metrics import (  # noqa: E402
    eval_ope, mean_over_runs)
from seco_mm.tracking.apis import (  # noqa: E402
    OPENCV_TRACKERS, OpenCVTracker, build_tracker, plan_workers, run_jobs,
    run_ope, set_backbone_checkpoint, state_fingerprint,
    static_box_predictions, total_fps, train_tracker)
from seco_mm.tracking.visualization import (  # noqa: E402
    plot_precision, plot_success)
from seco_mm.utils.logging import quiet_console  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='tracking config, e.g. '
                   'configs/tracking/siamfc_r18_demo.py')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--checkpoint', help='exported backbone '
                     '(tools/export_backbone.py), loaded with prefix '
                     'backbone.')
    src.add_argument('--random-init', action='store_true',
                     help='randomly initialised backbone (baseline)')
    p.add_argument('--data', required=True,
                   help='OTB-layout folder (sequence folders, optional '
                   'otb100_infos.txt)')
    p.add_argument('--ann-file', default='',
                   help='info file (default: found under --data, else scan)')
    p.add_argument('--work-dir', required=True, help='output folder')
    p.add_argument('--train', action='store_true',
                   help='train the SiamFC adaptation before evaluating')
    p.add_argument('--train-data', help='OTB-layout folder of training '
                   'sequences (default: the config\'s train_data_root)')
    p.add_argument('--eval-untrained', action='store_true',
                   help='with --train: also evaluate the tracker before '
                   'training (same backbone, untrained adjust layers)')
    p.add_argument('--load-from', help='trained SiamFC checkpoint '
                   '(tools/train_tracking.py output) to evaluate')
    p.add_argument('--name', help='tracker name in the JSON and plots')
    p.add_argument('--compare', nargs='+', default=[], metavar='JSON',
                   help='other runs\' tracking_results.json to overlay')
    p.add_argument('--sequences', nargs='+', help='evaluate only these')
    p.add_argument('--device', default=None, help='cpu or cuda '
                   '(default: cuda if available)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--workers', type=int, default=0,
                   help='processes running the seeds\' jobs in parallel on '
                   'CPU, splitting the torch threads between them (default '
                   '0: one per thread, i.e. one per core; 1: in this '
                   'process); the numbers do not change')
    p.add_argument('--no-reuse', action='store_true',
                   help='evaluate the untrained tracker of every seed even '
                   'when its weights equal an earlier seed\'s (a loaded '
                   'backbone); the numbers do not change')
    p.add_argument('--seed', type=int, default=None,
                   help='random seed (default: the config\'s, else 0)')
    p.add_argument('--seeds', type=int, nargs='+', default=None,
                   help='run once per seed and report mean +- std (use at '
                   'least 3 for a comparison)')
    p.add_argument('--opencv-trackers', nargs='+', default=[],
                   type=str.upper, choices=OPENCV_TRACKERS,
                   help='reference rows: OpenCV trackers scored by the same '
                   'metrics (deterministic, run once)')
    p.add_argument('--otb-toolkit-rules', action='store_true',
                   help='score invalid frames as the original OTB toolkit '
                   '(frame 1 = gt, empty predictions = previous box, gt '
                   'with x or y <= 0 not scored) instead of mmtracking')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bars (batch jobs)')
    p.add_argument('--verbose', action='store_true',
                   help='full mmengine logs (init report, training log)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config values, key=value')
    args = p.parse_args(argv)
    if args.train_data and not args.train:
        p.error('--train-data needs --train')
    if args.eval_untrained and not args.train:
        p.error('--eval-untrained needs --train')
    if args.train and args.load_from:
        p.error('--train and --load-from exclude each other')
    if args.seed is not None and args.seeds is not None:
        p.error('--seed and --seeds exclude each other')
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        p.error(f'--seeds has repeated values: {args.seeds}')
    return args


def default_name(args, trained=None) -> str:
    """``--name`` or the backbone's name, plus whether the adaptation is
    trained (``+trained adapt``) or not (``untrained adapt``)."""
    if trained is None:
        trained = bool(args.train or args.load_from)
    base = args.name or ('random-init' if args.random_init else osp.splitext(
        osp.basename(args.checkpoint))[0])
    return base + (' +trained adapt' if trained else
                   (' untrained adapt' if args.eval_untrained else ''))


def _pm(over, key, nd=1):
    """'mean' or 'mean +- std' of one scalar of mean_over_runs()."""
    o = over[key]
    if len(o['values']) < 2:
        return f"{o['mean']:.{nd}f}"
    return f"{o['mean']:.{nd}f} +- {o['std']:.{nd}f}"


def print_table(name, metrics, rows_extra, per_fps, fps):
    """Per-sequence rows (means over seeds), the overall row(s)."""
    rows = [('sequence', 'frames', 'success', 'prec@20', 'norm.prec', 'fps')]
    for seq, r in metrics['per_sequence'].items():
        rows.append((seq, str(r['num_frames']), f"{r['success']:.1f}",
                     f"{r['precision']:.1f}", f"{r['norm_precision']:.1f}",
                     f'{per_fps.get(seq, float("nan")):.1f}'))
    total = str(sum(r['num_frames'] for r in metrics['per_sequence'].values()))
    over = metrics['over_runs']
    rows.append(('ALL: ' + name, total, _pm(over, 'success'),
                 _pm(over, 'precision'), _pm(over, 'norm_precision'),
                 f'{fps:.1f}'))
    for label, m, f in rows_extra:
        o = m.get('over_runs')
        rows.append((label, '',
                     *(_pm(o, k) if o else f'{m[k]:.1f}'
                       for k in ('success', 'precision', 'norm_precision')),
                     f'{f:.1f}' if f else ''))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    n_seq = len(metrics['per_sequence'])
    for k, row in enumerate(rows):
        if k in (1, n_seq + 1):
            print('  '.join('-' * w for w in widths))
        print('  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))


def evaluate(model, seqs, progress, rules):
    """OPE run + metrics: (results, metrics, fps, per-sequence fps)."""
    results = run_ope(model, seqs, progress=progress)
    metrics = eval_ope([r['gt_bboxes'] for r in results],
                       [r['pred_bboxes'] for r in results],
                       [r['video_name'] for r in results], rules=rules)
    per_fps = {r['video_name']: r['num_frames'] / r['seconds']
               for r in results}
    for seq, value in per_fps.items():
        metrics['per_sequence'][seq]['fps'] = value
    return results, metrics, total_fps(results), per_fps


def train(cfg, args, device, subdir='train'):
    """Train the adaptation with the Runner in WORK_DIR/``subdir``;
    returns (model, train info)."""
    if args.train_data:
        cfg.train_dataloader.dataset.dataset.data_root = args.train_data
    cfg.work_dir = osp.join(args.work_dir, subdir)
    t0 = time.perf_counter()
    model, runner = train_tracker(cfg, quiet=not args.verbose)
    hub = runner.message_hub
    train_data = cfg.train_dataloader.dataset.dataset.get('data_root')
    overlap = bool(train_data) and osp.realpath(train_data) == \
        osp.realpath(args.data)
    info = dict(
        train_data=train_data,
        same_sequences_as_test=overlap,
        iterations=runner.iter,
        epochs=runner.epoch,
        seconds=time.perf_counter() - t0,
        final_loss=float(hub.get_scalar('train/loss_cls').current()),
        final_center_err=float(hub.get_scalar('train/center_err').current()),
        work_dir=cfg.work_dir)
    print(f"trained adaptation: {info['iterations']} iterations in "
          f"{info['seconds']:.1f} s, final loss {info['final_loss']:.3f}, "
          f"peak error {info['final_center_err']:.1f} px (search crop)")
    if overlap:
        print('note: the adaptation was trained on the evaluated sequences '
              'themselves (optimistic); pass --train-data with other '
              'sequences for a held-out result')
    return model.to(device).eval(), info


def _load_compare(path):
    """An earlier run's JSON, checked (name and metrics curves present)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'--compare file not found: {path}')
    try:
        with open(path) as f:
            prev = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'--compare {path}: not JSON ({err})') from None
    for key in ('name', 'metrics'):
        if key not in prev:
            raise ValueError(f'--compare {path}: no {key!r}; expected a '
                             'tracking_results.json of this tool')
    return prev


def check_inputs(cfg, args):
    """Every input, before any work: backbone file, test sequences,
    training sequences, SiamFC checkpoint, --compare files.

    Returns:
        tuple: (backbone info, test sequences, loaded --compare runs).
    """
    info = set_backbone_checkpoint(
        cfg, None if args.random_init else args.checkpoint)
    test_cfg = dict(cfg.test_dataset)
    test_cfg.update(data_root=args.data, ann_file=args.ann_file)
    if args.sequences:
        test_cfg['sequences'] = args.sequences
    sequences = DATASETS.build(test_cfg)
    if args.train:
        pair_ds = cfg.train_dataloader.dataset.dataset
        if args.train_data:
            pair_ds.data_root = args.train_data
        root = pair_ds.get('data_root')
        if root is not None and not osp.isdir(root):
            raise FileNotFoundError(f'training sequences folder not found: '
                                    f'{root} (--train-data, or the '
                                    "config's train_data_root)")
        if pair_ds.get('type') == 'OTBDataset':
            DATASETS.build(dict(pair_ds))  # reads every annotation file
    if args.load_from and not osp.isfile(args.load_from):
        raise FileNotFoundError(f'SiamFC checkpoint not found: '
                                f'{args.load_from}')
    compare = [_load_compare(p) for p in args.compare]
    return info, [sequences[i] for i in range(len(sequences))], compare


def _short(path):
    """The last two components of a path (``demo/otb``), for titles."""
    parts = osp.normpath(path).split(os.sep)
    return '/'.join(parts[-2:])


def describe(args, train_info):
    """One line for plot titles: backbone, head state, test data."""
    backbone = 'random-init backbone' if args.random_init else \
        'backbone ' + osp.basename(args.checkpoint)
    if args.train:
        head = 'head trained on ' + _short(
            (train_info or {}).get('train_data') or '?')
    elif args.load_from:
        head = 'head from ' + osp.basename(args.load_from)
    else:
        head = 'untrained head'
    return f'{backbone}, {head}; test: {_short(args.data)}'


def evaluate_untrained(cfg, args, seqs, seed, device, progress, rules):
    """The tracker before training (identity adjust layers) of one seed."""
    set_random_seed(seed)
    model0 = build_tracker(cfg, device=device, quiet=not args.verbose)
    _, m0, fps0, _ = evaluate(model0, seqs, progress, rules)
    print(f"seed {seed}: untrained adaptation: success "
          f"{m0['success']:.1f}, precision {m0['precision']:.1f} "
          f'({fps0:.1f} frames/s)', flush=True)
    return dict(metrics=m0, fps=fps0)


def evaluate_trained(cfg, args, seqs, seed, device, progress, rules,
                     subdir):
    """The trained (or loaded) tracker of one seed (training in
    WORK_DIR/``subdir``)."""
    set_random_seed(seed)
    train_info = None
    if args.train:
        model, train_info = train(cfg, args, device, subdir)
    else:
        model = build_tracker(cfg, load_from=args.load_from, device=device,
                              quiet=not args.verbose)
    results, metrics, fps, per_fps = evaluate(model, seqs, progress, rules)
    print(f"seed {seed}: success {metrics['success']:.1f}, precision "
          f"{metrics['precision']:.1f} ({fps:.1f} frames/s)", flush=True)
    return dict(seed=seed, results=results, metrics=metrics, fps=fps,
                per_fps=per_fps, train=train_info)


def seed_cfg(cfg, seed):
    """A copy of ``cfg`` whose Runner seeds with ``seed``."""
    cfg = copy.deepcopy(cfg)
    cfg.randomness = dict(seed=seed)
    return cfg


def untrained_sources(cfg, args, seeds):
    """seed -> the seed whose untrained tracker it repeats (itself if new).

    The untrained tracker is the backbone plus identity adjust layers: with
    a loaded backbone it is the same for every seed, and equal weights track
    identically, so it is evaluated once (``--no-reuse`` evaluates each)."""
    if not args.eval_untrained:
        return {}
    if args.no_reuse:
        return {seed: seed for seed in seeds}
    first, source = {}, {}
    for seed in seeds:
        set_random_seed(seed)
        model0 = build_tracker(seed_cfg(cfg, seed), device='cpu',
                               quiet=not args.verbose)
        source[seed] = first.setdefault(state_fingerprint(model0), seed)
        del model0
    return source


def run_all(cfg, args, seqs, seeds, device, progress, rules, workers,
            threads):
    """Every job (untrained tracker per distinct model, training + trained
    tracker per seed, OpenCV references), in ``workers`` processes.

    Returns:
        tuple: (per-seed runs in seed order, each with ``untrained``;
        OpenCV references by kind).
    """
    source = untrained_sources(cfg, args, seeds)
    for seed, src in source.items():
        if src != seed:
            print(f'seed {seed}: untrained tracker identical to seed '
                  f"{src}'s (same weights): its result is reused")
    subdir = {s: 'train' if len(seeds) == 1 else f'train_seed{s}'
              for s in seeds}
    # the longest jobs first, so the workers finish together
    jobs = [('trained', s) for s in seeds] + \
        [('untrained', s) for s in seeds if source.get(s) == s] + \
        [('opencv', k) for k in args.opencv_trackers]
    if workers > 1:
        progress = False  # one bar per process would garble the console

    def job(item):
        kind, key = item
        if kind == 'opencv':
            _, m_ref, fps_ref, _ = evaluate(OpenCVTracker(key), seqs,
                                            progress, rules)
            print(f"OpenCV {key}: success {m_ref['success']:.1f}, "
                  f"precision {m_ref['precision']:.1f} ({fps_ref:.1f} "
                  'frames/s)', flush=True)
            return dict(metrics=m_ref, fps=fps_ref)
        cfg_s = seed_cfg(cfg, key)
        if kind == 'untrained':
            return evaluate_untrained(cfg_s, args, seqs, key, device,
                                      progress, rules)
        return evaluate_trained(cfg_s, args, seqs, key, device, progress,
                                rules, subdir[key])

    done = dict(run_jobs(job, jobs, workers=workers, threads=threads))
    runs = []
    for seed in seeds:
        run = dict(done[('trained', seed)], untrained=None)
        if seed in source:
            run['untrained'] = done[('untrained', source[seed])]
        runs.append(run)
    references = {k: done[('opencv', k)] for k in args.opencv_trackers}
    return runs, references


def _summary(metrics):
    return {k: metrics[k] for k in ('success', 'precision', 'norm_precision')}


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_console()  # mmaction2's deprecated-API notices: log file only
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if args.seeds is not None:
        seeds = list(args.seeds)
    else:
        seeds = [args.seed if args.seed is not None else (
            cfg.get('randomness') or {}).get('seed', 0)]
    rules = 'otb_toolkit' if args.otb_toolkit_rules else 'mmtracking'
    name = default_name(args)
    num_jobs = len(seeds) * (2 if args.eval_untrained else 1) + len(
        args.opencv_trackers)
    workers, threads = plan_workers(num_jobs, torch.get_num_threads(),
                                    args.workers, device)
    # each job runs on `threads` threads, here or in a worker; with workers
    # this process stays single-threaded (a forked child's OpenMP runtime is
    # only sound if the parent never started a thread team)
    torch.set_num_threads(threads if workers == 1 else 1)

    try:
        info, seqs, compare = check_inputs(cfg, args)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f'eval_tracking: error: {err}', file=sys.stderr)
        return 2
    os.makedirs(args.work_dir, exist_ok=True)
    if info:
        print(f"backbone: {args.checkpoint} ({info['num_used']} of "
              f"{info['num_tensors']} tensors used by the truncated ResNet)")
    else:
        print('backbone: random initialisation')

    progress = not args.no_progress
    try:
        runs, references = run_all(cfg, args, seqs, seeds, device, progress,
                                   rules, workers, threads)
    except (FileNotFoundError, ValueError) as err:
        print(f'eval_tracking: error: {err}', file=sys.stderr)
        return 2

    metrics = mean_over_runs([r['metrics'] for r in runs])
    fps = float(np.mean([r['fps'] for r in runs]))
    untrained = None
    if args.eval_untrained:
        untrained = dict(
            name=default_name(args, trained=False),
            metrics=mean_over_runs([r['untrained']['metrics'] for r in runs]),
            fps=float(np.mean([r['untrained']['fps'] for r in runs])))
    gts = [r['gt_bboxes'] for r in runs[0]['results']]
    names = [r['video_name'] for r in runs[0]['results']]
    baseline = eval_ope(
        gts, [static_box_predictions(dict(gt_bboxes=g)) for g in gts], names,
        rules=rules)

    pred_dir = osp.join(args.work_dir, 'predictions')
    for run in runs:
        sub = pred_dir if len(runs) == 1 else osp.join(
            pred_dir, f"seed{run['seed']}")
        os.makedirs(sub, exist_ok=True)
        for r in run['results']:
            np.savetxt(osp.join(sub, f"{r['video_name']}.txt"),
                       r['pred_bboxes'], fmt='%.2f', delimiter=',')

    title = describe(args, runs[-1]['train'])
    out = dict(
        name=name,
        description=title,
        config=args.config,
        backbone_checkpoint=None if args.random_init else args.checkpoint,
        random_init=bool(args.random_init),
        trained_adaptation=bool(args.train or args.load_from),
        siamfc_checkpoint=args.load_from,
        train=runs[-1]['train'],
        data=args.data,
        device=device,
        torch_threads=threads,
        workers=workers,
        metric_rules=rules,
        seeds=seeds,
        fps=fps,
        num_sequences=len(names),
        num_frames=int(sum(len(g) for g in gts)),
        test_cfg=dict(cfg.model.test_cfg),
        metrics=metrics,
        per_seed=[dict(seed=r['seed'], fps=r['fps'], train=r['train'],
                       **_summary(r['metrics']),
                       untrained=_summary(r['untrained']['metrics'])
                       if r['untrained'] else None) for r in runs],
        untrained=untrained,
        opencv_trackers=references,
        static_box_baseline=baseline)
    json_path = osp.join(args.work_dir, 'tracking_results.json')
    dump(out, json_path, indent=1)  # converts numpy arrays and scalars

    curves = {name: metrics}
    if untrained:
        curves[untrained['name']] = untrained['metrics']
    for prev in compare:
        curves[prev['name']] = prev['metrics']
        if prev.get('untrained'):
            curves[prev['untrained']['name']] = prev['untrained']['metrics']
        for kind, ref in (prev.get('opencv_trackers') or {}).items():
            curves.setdefault(f'OpenCV {kind}', dict(ref['metrics'],
                                                     baseline=True))
    for kind, ref in references.items():
        curves[f'OpenCV {kind}'] = dict(ref['metrics'], baseline=True)
    curves['static box'] = dict(baseline, baseline=True)
    seeds_txt = (f', mean of {len(seeds)} seeds' if len(seeds) > 1 else
                 f', seed {seeds[0]}')
    subtitle = f'{title}{seeds_txt}; {rules} rules'
    plot_success(curves, osp.join(args.work_dir, 'success_plot.png'),
                 subtitle=subtitle)
    plot_precision(curves, osp.join(args.work_dir, 'precision_plot.png'),
                   subtitle=subtitle)

    extra = []
    if untrained:
        extra.append((untrained['name'], untrained['metrics'],
                      untrained['fps']))
    extra += [(f'OpenCV {k}', v['metrics'], v['fps'])
              for k, v in references.items()]
    extra.append(('static box (no motion)', baseline, None))
    per_fps = {k: float(np.mean([r['per_fps'][k] for r in runs]))
               for k in runs[0]['per_fps']}
    print(f'seeds {seeds} ({rules} rules); values are means over seeds'
          + (' +- std' if len(seeds) > 1 else ''))
    print_table(name, metrics, extra, per_fps, fps)
    print(f'{fps:.1f} frames/s on {device} ({threads} thread(s) per '
          f'tracker, {workers} process(es)) -> {json_path}, '
          'success_plot.png, precision_plot.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
