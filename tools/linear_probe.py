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
Per-frame features stream into ``WORK_DIR/feature_cache/`` batch by batch
(float16 for ``--pooling mean``, float32 for ``mean+diff``; ``--cache-dtype``),
so a killed run continues where it stopped when run again. Unreadable videos
(not a video, no video stream, frames smaller than the crop...) are named,
skipped and listed in the JSON; ``--on-bad-video stop`` stops at the first.
``--device cuda --amp --channels-last --num-workers 8 --videos-per-batch 16``
is the fast path on a GPU (fp16 autocast; bf16 on CPU). The SVM solver is
picked by shape (``--svm-solver``). Results go to
``WORK_DIR/linear_probe.json`` (``linear_probe_compare.json`` with
``--compare-random``) unless ``--out`` is given. See docs/linear_probe.md.
"""
import argparse
import json
import sys

import seco_mm  # noqa: F401  (compat fixes before mmaction.models)
from seco_mm.datasets.transforms.video_reader import VideoReadError
from seco_mm.evaluation.feature_svm import (CACHE_DTYPES, POOLINGS,
                                            STANDARDIZE, build_probe_backbone,
                                            compare_with_random, run_probe,
                                            summary_table)
from seco_mm.models.utils.export import SeCoCheckpointError
from seco_mm.utils.logging import quiet_console


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
    p.add_argument('--device', default='cpu',
                   help="device of the backbone forward: 'cpu', 'cuda', "
                   "'cuda:1'")
    p.add_argument('--amp', action='store_true',
                   help='autocast the backbone: bf16 on CPU, fp16 on CUDA')
    p.add_argument('--channels-last', action='store_true',
                   help='run the backbone in channels-last memory format')
    p.add_argument('--on-bad-video', choices=['skip', 'stop'],
                   default='skip',
                   help='an unreadable video is skipped and listed in the '
                   'JSON, or stops the run naming the file')
    p.add_argument('--cache-dtype', choices=CACHE_DTYPES, default='auto',
                   help='per-frame feature cache: auto = float16 for '
                   "--pooling mean, float32 for 'mean+diff'")
    p.add_argument('--svm-solver', choices=['auto', 'dual', 'primal'],
                   default='auto',
                   help='liblinear solver; auto: dual when train videos < '
                   'feature dims, else primal')
    p.add_argument('--out', help='result JSON path')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bar (batch jobs)')
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
    quiet_console()  # mmaction2's deprecated-API notices: log file only
    probe_kwargs = dict(
        num_frames=args.num_frames, crop_size=args.crop_size,
        resize=args.resize, C=args.C, standardize=args.standardize,
        pooling=args.pooling, videos_per_batch=args.videos_per_batch,
        num_workers=args.num_workers, out_json=args.out,
        device=args.device, amp=args.amp, channels_last=args.channels_last,
        on_bad_video=args.on_bad_video, cache_dtype=args.cache_dtype,
        progress=not args.no_progress,
        svm_dual=dict(auto=None, dual=True, primal=False)[args.svm_solver])
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
    except (SeCoCheckpointError, FileNotFoundError, ValueError,
            VideoReadError) as err:
        print(f'linear_probe: error: {err}', file=sys.stderr)
        return 2
    print(json.dumps(report['protocol'], indent=1, default=str))
    print(summary_table(report))
    print(f"results written to {report['json']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
