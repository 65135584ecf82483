"""Test a trained model from an mmengine config (mmaction2's interface).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump results.pkl]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import seco_mm  # noqa: E402,F401  (applies seco_mm.compat)
from seco_mm.compat import setup_distributed  # noqa: E402
from seco_mm.engine.safe_load import check_checkpoint_source  # noqa: E402


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Test a seco-mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='dir to save the metrics file')
    parser.add_argument('--dump', type=str,
                        help='dump predictions to a pickle file (.pkl)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.dump is not None and not args.dump.endswith(('.pkl', '.pickle')):
        parser.error('--dump must be a .pkl or .pickle file')
    return args


def main(argv=None):
    from mmengine.config import Config
    from mmengine.runner import Runner

    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if cfg.get('test_dataloader') is None:
        raise SystemExit(f'{args.config} has no test_dataloader: pretraining '
                         'configs are not tested; use a downstream config')
    # seco_mm installs its weights-only loader for every path/URL scheme;
    # fail early, naming the file, if it is missing, truncated or refused
    check_checkpoint_source(args.checkpoint)
    if args.dump is not None:
        dump = dict(type='DumpResults', out_file_path=args.dump)
        evaluator = cfg.test_evaluator
        cfg.test_evaluator = (list(evaluator) if isinstance(
            evaluator, (list, tuple)) else [evaluator]) + [dump]
    setup_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
