"""Train a model from an mmengine config (SeCo pretraining or downstream).

Same interface as mmaction2's tools/train.py:

    python tools/train.py configs/seco_r50_kinetics.py --work-dir work_dirs/seco
    python tools/train.py CONFIG --resume            # latest checkpoint in work dir
    bash tools/dist_train.sh CONFIG 4                # torchrun, 4 processes
    bash tools/slurm_train.sh PARTITION JOB CONFIG   # srun, GPUS=8 default

As in mmaction2, ``--cfg-options`` is applied after the other flags and wins
over them. Beyond mmaction2: a shortened ``train_cfg.max_epochs`` resizes the
schedule, ``num_workers=0`` alone is accepted (seco_mm/utils/run_config.py),
and ``--no-progress`` drops the per-iteration lines from the console.
"""
import argparse
import os
import os.path as osp

import seco_mm  # noqa: F401  (applies seco_mm.compat before mmaction.models)
from seco_mm.compat import setup_distributed, teardown_distributed
from seco_mm.engine.config_checks import (check_train_config,
                                          check_train_dataset)
from seco_mm.engine.loader_failure import explain_loader_failure
from seco_mm.utils.logging import quiet_console
from seco_mm.utils.run_config import (allow_zero_workers,
                                      fit_schedulers_to_run, run_length)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Train a seco-mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='dir to save logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir if no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale lr linearly with the real batch size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--diff-rank-seed', action='store_true',
                        help='different seeds on different ranks')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic cudnn / algorithms')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.queue_len=4096; applied '
        'after (and over) the other options, as in mmaction2')
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
    return args


def merge_args(cfg, args):
    """Apply command-line arguments to the config (mmaction2 semantics:
    the flags first, then ``--cfg-options``, which wins)."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:  # bf16 autocast on CPU, fp16 + loss scaling on CUDA
        amp_from = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if amp_from not in ('OptimWrapper', 'AmpOptimWrapper',
                            'MixedPrecisionOptimWrapper'):
            raise ValueError('--amp: optim_wrapper.type must be '
                             f'OptimWrapper, got {amp_from!r}')
        cfg.optim_wrapper.type = 'MixedPrecisionOptimWrapper'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})
        cfg.auto_scale_lr.enable = True
    randomness = dict(cfg.get('randomness') or {})
    randomness.setdefault('seed', None)  # mmengine requires the key
    if args.seed is not None:
        randomness['seed'] = args.seed
    if args.deterministic:
        randomness['deterministic'] = True
    if args.diff_rank_seed:
        randomness['diff_rank_seed'] = True
    cfg.randomness = randomness
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def build_runner(cfg):
    """``RUNNERS.build`` when the config sets ``runner_type`` (as mmaction2's
    tools do), mmengine's ``Runner`` otherwise."""
    from mmengine.runner import Runner

    from mmaction.registry import RUNNERS
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def main(argv=None):
    from mmengine.config import Config

    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    original_length = run_length(cfg)
    cfg = merge_args(cfg, args)
    adjusted = (fit_schedulers_to_run(cfg, original_length) +
                allow_zero_workers(cfg))
    setup_distributed(cfg, args.launcher)
    # before anything is built: values no component of ours checks, and
    # what needs the training set (which is built here, so a dataset's
    # own argument checks run now too); the model's and hooks' checks
    # run when the Runner builds them
    check_train_config(cfg)
    check_train_dataset(cfg)
    runner = build_runner(cfg)
    quiet_console(runner.logger, progress=not args.no_progress)
    for message in adjusted:
        runner.logger.warning(f'config adjusted: {message}')
    try:
        runner.train()
    except RuntimeError as err:  # name the video if a loader worker died
        explain_loader_failure(runner, err)
        raise
    return runner


if __name__ == '__main__':
    try:
        main()
    finally:
        teardown_distributed()
