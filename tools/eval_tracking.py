"""Evaluate a (SeCo) backbone as a SiamFC tracker on OTB-layout sequences.

One-pass evaluation (OPE): success AUC, precision at 20 px, normalised
precision, per sequence and overall, written to WORK_DIR/tracking_results.json
with WORK_DIR/success_plot.png and WORK_DIR/precision_plot.png.

Usage:
    python tools/eval_tracking.py CONFIG (--checkpoint BACKBONE.pth |
        --random-init) --data OTB_ROOT --work-dir DIR
        [--train [--train-data SEQ_ROOT] [--eval-untrained]]
        [--load-from SIAMFC.pth] [--name NAME]
        [--compare OTHER/tracking_results.json ...]

--train first trains the SiamFC adaptation (1x1 adjust layers; the
backbone too if the config sets freeze_backbone=False) with mmengine's Runner
on frame pairs from --train-data (default: the config's train_data_root);
--eval-untrained also scores the tracker before that training (pure
backbone feature matching). --compare overlays earlier runs in the plots.
"""
import os

# Tracking runs many small ops per frame; with OpenMP's default spin-waiting,
# two threads on a busy 2-core machine were measured 10x slower than one
# (2.2 vs 26 frames/s); passive waiting removes that (30 frames/s). Must be
# set before torch loads its OpenMP runtime; an explicit setting wins.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import argparse  # noqa: E402
import json  # noqa: E402
import os.path as osp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# seco_mm first: compat fixes before mmaction.models
import seco_mm  # noqa: E402,F401
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import set_random_seed  # noqa: E402

from mmaction.registry import DATASETS  # noqa: E402
from seco_mm.evaluation.sot_metrics import eval_ope  # noqa: E402
from seco_mm.tracking.apis import (  # noqa: E402
    build_tracker, run_ope, set_backbone_checkpoint, static_box_predictions,
    total_fps, train_tracker)
from seco_mm.tracking.visualization import (  # noqa: E402
    plot_precision, plot_success)


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
    p.add_argument('--seed', type=int, default=None,
                   help='random seed (default: the config\'s, else 0)')
    p.add_argument('--no-progress', action='store_true')
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


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def print_table(name, metrics, baseline, per_fps, fps):
    rows = [('sequence', 'frames', 'success', 'prec@20', 'norm.prec', 'fps')]
    for seq, r in metrics['per_sequence'].items():
        rows.append((seq, str(r['num_frames']), f"{r['success']:.1f}",
                     f"{r['precision']:.1f}", f"{r['norm_precision']:.1f}",
                     f'{per_fps[seq]:.1f}'))
    rows.append(('ALL: ' + name, str(sum(
        r['num_frames'] for r in metrics['per_sequence'].values())),
        f"{metrics['success']:.1f}", f"{metrics['precision']:.1f}",
        f"{metrics['norm_precision']:.1f}", f'{fps:.1f}'))
    rows.append(('static box (no motion)', '', f"{baseline['success']:.1f}",
                 f"{baseline['precision']:.1f}",
                 f"{baseline['norm_precision']:.1f}", ''))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        if k in (1, len(rows) - 2):
            print('  '.join('-' * w for w in widths))
        print('  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))


def evaluate(model, seqs, progress):
    """OPE run + metrics: (results, metrics, fps, per-sequence fps)."""
    results = run_ope(model, seqs, progress=progress)
    metrics = eval_ope([r['gt_bboxes'] for r in results],
                       [r['pred_bboxes'] for r in results],
                       [r['video_name'] for r in results])
    per_fps = {r['video_name']: r['num_frames'] / r['seconds']
               for r in results}
    for seq, value in per_fps.items():
        metrics['per_sequence'][seq]['fps'] = value
    return results, metrics, total_fps(results), per_fps


def train(cfg, args, device):
    """Train the adaptation with the Runner; returns (model, train info)."""
    if args.train_data:
        cfg.train_dataloader.dataset.dataset.data_root = args.train_data
    cfg.work_dir = osp.join(args.work_dir, 'train')
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


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    seed = args.seed if args.seed is not None else (
        cfg.get('randomness') or {}).get('seed', 0)
    cfg.randomness = dict(seed=seed)
    os.makedirs(args.work_dir, exist_ok=True)
    name = default_name(args)

    try:
        info = set_backbone_checkpoint(
            cfg, None if args.random_init else args.checkpoint)
        test_cfg = dict(cfg.test_dataset)
        test_cfg.update(data_root=args.data, ann_file=args.ann_file)
        if args.sequences:
            test_cfg['sequences'] = args.sequences
        sequences = DATASETS.build(test_cfg)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f'eval_tracking: error: {err}', file=sys.stderr)
        return 2
    if info:
        print(f"backbone: {args.checkpoint} ({info['num_used']} of "
              f"{info['num_tensors']} tensors used by the truncated ResNet)")
    else:
        print('backbone: random initialisation')

    seqs = [sequences[i] for i in range(len(sequences))]
    progress = not args.no_progress
    untrained = None
    if args.eval_untrained:
        set_random_seed(seed)
        model0 = build_tracker(cfg, device=device, quiet=not args.verbose)
        _, m0, fps0, _ = evaluate(model0, seqs, progress)
        untrained = dict(name=default_name(args, trained=False), metrics=m0,
                         fps=fps0)
        print(f"untrained adaptation: success {m0['success']:.1f}, "
              f"precision {m0['precision']:.1f} ({fps0:.1f} frames/s)")
        del model0

    train_info = None
    set_random_seed(seed)
    if args.train:
        try:
            model, train_info = train(cfg, args, device)
        except (FileNotFoundError, ValueError) as err:
            print(f'eval_tracking: error while training: {err}',
                  file=sys.stderr)
            return 2
    else:
        model = build_tracker(cfg, load_from=args.load_from, device=device,
                              quiet=not args.verbose)

    results, metrics, fps, per_fps = evaluate(model, seqs, progress)
    gts = [r['gt_bboxes'] for r in results]
    baseline = eval_ope(
        gts, [static_box_predictions(dict(gt_bboxes=g)) for g in gts],
        [r['video_name'] for r in results])

    pred_dir = osp.join(args.work_dir, 'predictions')
    os.makedirs(pred_dir, exist_ok=True)
    for r in results:
        np.savetxt(osp.join(pred_dir, f"{r['video_name']}.txt"),
                   r['pred_bboxes'], fmt='%.2f', delimiter=',')

    out = dict(
        name=name,
        config=args.config,
        backbone_checkpoint=None if args.random_init else args.checkpoint,
        random_init=bool(args.random_init),
        trained_adaptation=bool(args.train or args.load_from),
        siamfc_checkpoint=args.load_from,
        train=train_info,
        data=args.data,
        device=device,
        torch_threads=torch.get_num_threads(),
        fps=fps,
        num_sequences=len(results),
        num_frames=int(sum(r['num_frames'] for r in results)),
        test_cfg=dict(cfg.model.test_cfg),
        metrics=metrics,
        untrained=untrained,
        static_box_baseline=baseline)
    json_path = osp.join(args.work_dir, 'tracking_results.json')
    with open(json_path, 'w') as f:
        json.dump(_jsonable(out), f, indent=1)

    curves = {name: metrics}
    if untrained:
        curves[untrained['name']] = untrained['metrics']
    for other in args.compare:
        with open(other) as f:
            prev = json.load(f)
        curves[prev['name']] = prev['metrics']
        if prev.get('untrained'):
            curves[prev['untrained']['name']] = prev['untrained']['metrics']
    curves['static box'] = dict(baseline, baseline=True)
    plot_success(curves, osp.join(args.work_dir, 'success_plot.png'))
    plot_precision(curves, osp.join(args.work_dir, 'precision_plot.png'))

    print_table(name, metrics, baseline, per_fps, fps)
    print(f'{fps:.1f} frames/s on {device} ({torch.get_num_threads()} '
          f'threads) -> {json_path}, success_plot.png, precision_plot.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
