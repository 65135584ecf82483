"""Train the SiamFC adaptation on frame pairs with mmengine's Runner.

Usage:
    python tools/train_tracking.py CONFIG (--checkpoint BACKBONE.pth |
        --random-init) --work-dir DIR [--train-data SEQ_ROOT] [--resume]
        [--cfg-options key=value ...]

Writes DIR/epoch_<N>.pth (the whole SiamFC: backbone + adjust layers), to
evaluate with ``tools/eval_tracking.py CONFIG --checkpoint BACKBONE.pth
--load-from DIR/epoch_<N>.pth --data OTB_ROOT --work-dir OUT``.
"""
import os

# see tools/eval_tracking.py: passive OpenMP waiting (set before torch loads)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import argparse  # noqa: E402
import sys  # noqa: E402

# seco_mm first: compat fixes before mmaction.models
import seco_mm  # noqa: E402,F401
from mmengine.config import Config, DictAction  # noqa: E402

from seco_mm.tracking.apis import (  # noqa: E402
    set_backbone_checkpoint, train_tracker)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='tracking config')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--checkpoint', help='exported backbone '
                     '(tools/export_backbone.py)')
    src.add_argument('--random-init', action='store_true',
                     help='randomly initialised backbone')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--train-data', help='OTB-layout training sequences '
                   '(replaces the sequence dataset\'s data_root)')
    p.add_argument('--resume', action='store_true',
                   help='resume from the latest checkpoint in --work-dir')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    cfg.resume = args.resume
    if args.train_data:
        cfg.train_dataloader.dataset.dataset.data_root = args.train_data
    try:
        set_backbone_checkpoint(
            cfg, None if args.random_init else args.checkpoint)
        _, runner = train_tracker(cfg, quiet=False)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f'train_tracking: error: {err}', file=sys.stderr)
        return 2
    print(f'trained {runner.iter} iterations; checkpoints in {args.work_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
