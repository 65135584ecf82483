"""Linear SVM probe on frozen frame features (the SeCo paper's protocol).

One command from a SeCo checkpoint (or an exported backbone) to accuracy:

    python tools/linear_probe.py --checkpoint CKPT_OR_EXPORTED \
        --train-list data/demo/train.txt --val-list data/demo/val.txt \
        --data-prefix data/demo/videos --work-dir work_dirs/probe \
        --num-frames 8 --crop-size 112

Kinetics-400 as in the paper: ``--num-frames 30 --resize 256 --crop-size 224``
(defaults are 30 frames, centre crop 224, no resize, ``--pooling mean``).
``--pooling mean+diff`` adds the mean absolute change between consecutive
sampled frames to the frame average (the demo's protocol: its classes differ
in how the target moves, which a frame average cannot show).
``--random-init`` probes a randomly initialised ResNet (``--depth``,
``--seed``) instead of a checkpoint. ``--compare-random`` exports the SeCo backbone, then probes it and
random-init baselines (``--seeds``) side by side and writes one JSON.
Features are cached as .npy in the work dir; results go to
``WORK_DIR/linear_probe.json`` (``linear_probe_compare.json`` with
``--compare-random``) unless ``--out`` is given.
"""
import argparse
import json
import sys

import seco_mm  # noqa: F401  (compat fixes before mmaction.models)
from seco_mm.evaluation.feature_svm import (POOLINGS, STANDARDIZE,
                                            build_probe_backbone,
                                            compare_with_random, run_probe,
                                            summary_table)
from seco_mm.models.utils.export import SeCoCheckpointError


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Linear SVM probe on frozen SeCo features',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--checkpoint', help='SeCo checkpoint or exported backbone')
    p.add_argument('--random-init', action='store_true',
                   help='probe a randomly initialised backbone (no checkpoint)')
    p.add_argument('--compare-random', action='store_true',
                   help='probe --checkpoint and random-init backbones '
                   '(one per --seeds) side by side')
    p.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='random-init seeds for --compare-random')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the --random-init backbone')
    p.add_argument('--depth', type=int, choices=[18, 34, 50, 101, 152],
                   help='ResNet depth (needed with --random-init)')
    p.add_argument('--key-encoder', action='store_true',
                   help="use a SeCo checkpoint's momentum encoder backbone")
    p.add_argument('--train-list', required=True,
                   help='mmaction2 video list: "relative/path.mp4 label"')
    p.add_argument('--val-list', required=True)
    p.add_argument('--data-prefix', required=True,
                   help='folder the list paths are relative to')
    p.add_argument('--work-dir', required=True,
                   help='feature cache (.npy) and result JSON')
    p.add_argument('--num-frames', type=int, default=30,
                   help='uniformly spaced frames per video')
    p.add_argument('--crop-size', type=int, default=224, help='centre crop')
    p.add_argument('--resize', type=int, default=None,
                   help='resize the short side to this before cropping')
    p.add_argument('--C', type=float, default=1.0, help='SVM C')
    p.add_argument('--standardize', choices=STANDARDIZE, default='none',
                   help='feature scaling before the SVM (train statistics)')
    p.add_argument('--pooling', choices=POOLINGS, default='mean',
                   help="per-video feature: 'mean' over frames (the paper's "
                   "protocol) or 'mean+diff' (also the mean absolute change "
                   'between consecutive sampled frames)')
    p.add_argument('--videos-per-batch', type=int, default=4)
    p.add_argument('--num-workers', type=int, default=0,
                   help='DataLoader workers decoding videos')
    p.add_argument('--out', help='result JSON path')
    args = p.parse_args(argv)
    if args.random_init == bool(args.checkpoint):
        p.error('give exactly one of --checkpoint and --random-init')
    if args.compare_random and not args.checkpoint:
        p.error('--compare-random needs --checkpoint')
    if args.random_init and args.depth is None:
        p.error('--random-init needs --depth')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    probe_kwargs = dict(
        num_frames=args.num_frames, crop_size=args.crop_size,
        resize=args.resize, C=args.C, standardize=args.standardize,
        pooling=args.pooling, videos_per_batch=args.videos_per_batch,
        num_workers=args.num_workers, out_json=args.out)
    data = (args.train_list, args.val_list, args.data_prefix, args.work_dir)
    try:
        if args.compare_random:
            report = compare_with_random(args.checkpoint, *data,
                                         seeds=args.seeds, **probe_kwargs)
        else:
            name = 'random' if args.random_init else 'checkpoint'
            backbone = build_probe_backbone(
                args.checkpoint, depth=args.depth, seed=args.seed,
                key_encoder=args.key_encoder)
            report = run_probe({name: backbone}, *data, **probe_kwargs)
    except (SeCoCheckpointError, FileNotFoundError, ValueError) as err:
        print(f'linear_probe: error: {err}', file=sys.stderr)
        return 2
    print(json.dumps(report['protocol'], indent=1, default=str))
    print(summary_table(report))
    print(f"results written to {report['json']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
