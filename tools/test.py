"""Test a trained model from an mmengine config (mmaction2's interface).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump results.pkl]
        [--show-dir DIR [--interval N]] [--cfg-options KEY=VALUE ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
    bash tools/slurm_test.sh PARTITION JOB CONFIG CHECKPOINT [test.py args...]

The order is mmaction2's: ``--show-dir``/``--dump`` first, then
``--cfg-options``, then ``--work-dir`` and the checkpoint.
"""
import argparse
import os
import os.path as osp

import seco_mm  # noqa: F401  (applies seco_mm.compat)
from seco_mm.compat import (setup_distributed, teardown_distributed,
                            visualization_hook_type)
from seco_mm.engine.safe_load import check_checkpoint_source
from seco_mm.utils.logging import quiet_console


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
        help='override config settings (applied after --show-dir/--dump)')
    parser.add_argument(
        '--show-dir', help='save the visualised predictions (each sampled '
        'frame with its true and predicted label and score) under this dir '
        '(as mmaction2: relative to the current dir)')
    parser.add_argument('--show', action='store_true',
                        help='display the visualised predictions in a window')
    parser.add_argument('--interval', type=int, default=1,
                        help='visualise every N-th test sample')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each window is shown (--show)')
    parser.add_argument(
        '--no-progress', action='store_true',
        help='batch jobs: no per-iteration progress lines on the console '
        '(metrics, warnings and the log file in the work dir are kept)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.dump is not None and not args.dump.endswith(('.pkl', '.pickle')):
        parser.error('--dump must be a .pkl or .pickle file')
    return args


def merge_args(cfg, args):
    """Visualisation and prediction dumping (mmaction2's test.py)."""
    if args.show or args.show_dir is not None:
        # mmaction2 asserts the hook is configured, but its own
        # default_runtime.py lacks it: add mmaction2's VisualizationHook
        cfg.setdefault('default_hooks', {})
        cfg.default_hooks.setdefault('visualization',
                                     dict(type='VisualizationHook'))
        vis = cfg.default_hooks.visualization
        if vis.get('type') in ('VisualizationHook',
                               'mmaction.VisualizationHook'):
            vis.type = visualization_hook_type()  # compat defect 7
        vis.enable = True
        vis.show = args.show
        vis.wait_time = args.wait_time
        vis.out_dir = args.show_dir
        vis.interval = args.interval
    if args.dump is not None:
        dump = dict(type='DumpResults', out_file_path=args.dump)
        evaluator = cfg.test_evaluator
        cfg.test_evaluator = (list(evaluator) if isinstance(
            evaluator, (list, tuple)) else [evaluator]) + [dump]
    return cfg


def load_config(args):
    """The config file with the command line applied, in mmaction2's
    order: ``--show-dir``/``--dump``, launcher, ``--cfg-options``, then
    ``--work-dir`` and the checkpoint."""
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    if cfg.get('test_dataloader') is None:
        raise SystemExit(f'{args.config} has no test_dataloader: pretraining '
                         'configs are not tested; use a downstream config')
    cfg = merge_args(cfg, args)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    return cfg


def main(argv=None):
    from mmengine.runner import Runner

    from mmaction.registry import RUNNERS

    args = parse_args(argv)
    cfg = load_config(args)
    # seco_mm installs its weights-only loader for every path/URL scheme;
    # fail early, naming the file, if it is missing, truncated or refused
    check_checkpoint_source(args.checkpoint)
    setup_distributed(cfg, args.launcher)
    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg else
              Runner.from_cfg(cfg))
    quiet_console(runner.logger, progress=not args.no_progress)
    return runner.test()


if __name__ == '__main__':
    try:
        main()
    finally:
        teardown_distributed()
