"""Generate the seco-mm demo data set (labelled clips + OTB tracking folder).

Example::

    python tools/make_demo_data.py --out data/demo --seed 0

The same seed gives the same files. See ``tools/demo_data/`` (the generator;
not part of the plugin package) for the class design and the layout written.
"""
import argparse
import sys

from demo_data import DemoDataConfig, check_config, generate_demo_data


def parse_args(argv=None) -> DemoDataConfig:
    d = DemoDataConfig()
    parser = argparse.ArgumentParser(
        description='Write the deterministic seco-mm demo data set.')
    parser.add_argument('--out', default=d.out, help='output folder')
    parser.add_argument('--seed', type=int, default=d.seed)
    parser.add_argument(
        '--num-train',
        type=int,
        default=d.num_train,
        help='training clips (a multiple of 10 balances classes)')
    parser.add_argument(
        '--num-val', type=int, default=d.num_val, help='validation clips')
    parser.add_argument(
        '--frames', type=int, default=d.frames, help='frames per clip')
    parser.add_argument(
        '--size', type=int, default=d.size, help='frame side in pixels (even)')
    parser.add_argument(
        '--num-tracking-frames',
        type=int,
        default=d.num_tracking_frames,
        help='frames per tracking sequence')
    parser.add_argument(
        '--workers',
        type=int,
        default=1,
        help='rendering processes, spawned (the output does not depend on '
        'it; on 2 cores the spawn cost about cancels the gain)')
    args = parser.parse_args(argv)
    cfg = DemoDataConfig(**vars(args))
    try:
        check_config(cfg)
    except ValueError as err:
        parser.error(str(err))
    return cfg


def main(argv=None) -> int:
    cfg = parse_args(argv)
    try:
        summary = generate_demo_data(cfg)
    except (FileNotFoundError, FileExistsError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(
        f"Demo data written to {summary['out']}: {summary['num_train']} train"
        f" + {summary['num_val']} val clips ({summary['num_classes']} classes,"
        f" {summary['frames']} frames, {summary['size']}x{summary['size']}),"
        f" {summary['num_sequences']} tracking sequences of "
        f"{summary['num_tracking_frames']} frames; "
        f"{summary['bytes'] / 2**20:.1f} MiB in {summary['seconds']:.1f} s")
    return 0


if __name__ == '__main__':
    sys.exit(main())
