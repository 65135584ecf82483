"""Training step: plugin overhead, key-forward mode, channels_last, AMP.

Part 1, overhead (side by side in one process, same tensors):
  ``runner``    the full mmengine Runner loop (IterBasedTrainLoop, the
                config's hooks incl. SeCoMomentumHook, logger, param
                scheduler) over an in-memory dataset holding one batch;
  ``mmengine``  ``model.train_step(batch, OptimWrapper)`` + EMA, no Runner;
  ``bare``      plain PyTorch doing identical math (benchmarks/seco_bare.py).
  A hook at the end of every Runner iteration times the other two on the
  batch the Runner just used, in rotated order; the Runner's own interval
  excludes that work. Losses of ``bare`` are checked against the model's.

Part 2, options (mmengine path, same batch): key_forward 'batched' vs
'per_view', channels_last, bf16 autocast (CPU or CUDA), both, and
'queue_copy': the step as it was before SeCo.train_step deferred the
enqueue (mmengine's generic BaseModel.train_step, so SeCo.loss clones the
queue each step), to show what removing the copy saves.

Part 3, memory: CPU: peak RSS of a fresh process running 2 steps of a
variant minus its RSS before the model was built (one process per
variant); CUDA: torch.cuda.max_memory_allocated per variant, in process.

    python benchmarks/bench_train_step.py                  # ~4 min, 2 cores
    python benchmarks/bench_train_step.py --presets r50_224 --rounds 20
    python benchmarks/bench_train_step.py --device cuda --batch 64
"""
import argparse
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import time


import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import (DEFAULT_OUT_DIR, Timing, add_common_args,  # noqa: E402
                    add_rounds_args, add_threads_arg, bench_setup,
                    environment, fmt_ratio, fmt_stat, interleave,
                    markdown_table, ratio_stats, stats, write_json)
from train_utils import (PRESETS, build_model, channels_last_inputs,  # noqa
                         make_batch, make_optim_wrapper, mmengine_step,
                         model_cfg, peak_cuda_mib, sync)

OPTIONS = ('batched', 'per_view', 'channels_last', 'bf16',
           'channels_last+bf16', 'queue_copy')
PROBE_VARIANTS = ('mmengine', 'bare', 'per_view', 'bf16', 'channels_last')
DEFAULT_PROBES = ('mmengine', 'bare', 'per_view', 'bf16')


# ---------------------------------------------------------------- parity --
def check_parity(cfg, batch, device):
    """The bare step computes the model's losses (same weights, same batch)."""
    from seco_bare import BareSeCo
    model = build_model(cfg, device)
    bare = BareSeCo(model, **_sgd(cfg)).to(device)
    with torch.no_grad():
        data = model.data_preprocessor(batch, True)
        ref = model.loss(data['inputs'], data['data_samples'])
        x, order = bare.prepare(batch)
        got = bare.losses(x, order)
    diffs = {k: abs(float(ref[k]) - float(got[k]))
             for k in ('loss_inter', 'loss_intra', 'loss_order')}
    if max(diffs.values()) > 1e-3:
        raise AssertionError(f'bare SeCo differs from the model: {diffs}')
    return diffs


def _sgd(cfg):
    o = cfg['optim']
    return dict(lr=o['lr'], momentum=o.get('momentum', 0.9),
                weight_decay=o.get('weight_decay', 0.0))


# --------------------------------------------------------------- overhead --
class _Interleave:
    """State of the overhead run; the hook below calls into it."""

    def __init__(self, cfg, batch, device, warmup):
        self.cfg, self.batch, self.device = cfg, batch, device
        self.warmup = warmup
        self.timings = {n: Timing() for n in ('runner', 'mmengine', 'bare')}
        self.peak = {n: [] for n in self.timings}
        self.t0 = self.c0 = None

    def setup(self, runner_model):
        from seco_bare import BareSeCo
        self.model = copy.deepcopy(runner_model)
        self.optim = make_optim_wrapper(self.model, self.cfg['optim'])
        self.bare = BareSeCo(runner_model, **_sgd(self.cfg)).to(self.device)
        m = self.cfg['momentum']
        self.variants = dict(
            mmengine=lambda b: mmengine_step(self.model, self.optim, b, m),
            bare=lambda b: self.bare.step(b, m))

    def start(self):
        sync(self.device)
        if self.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def end_runner_iter(self, it, data_batch):
        sync(self.device)
        wall, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        timed = it >= self.warmup
        if timed:
            self.timings['runner'].wall.append(wall)
            self.timings['runner'].cpu.append(cpu)
            if self.device.startswith('cuda'):
                self.peak['runner'].append(peak_cuda_mib())
        names = list(self.variants)
        k = it % len(names)
        for name in names[k:] + names[:k]:
            self.start()
            self.variants[name](data_batch)
            sync(self.device)
            if timed:
                self.timings[name].wall.append(time.perf_counter() - self.t0)
                self.timings[name].cpu.append(time.process_time() - self.c0)
                if self.device.startswith('cuda'):
                    self.peak[name].append(peak_cuda_mib())
        self.start()


def _make_hook(state):
    from mmengine.hooks import Hook

    class InterleaveHook(Hook):
        priority = 'LOWEST'  # after every other hook of the iteration

        def before_train(self, runner):
            state.setup(runner.model)

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if state.t0 is None:
                state.start()

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            state.end_runner_iter(batch_idx, data_batch)
    return InterleaveHook()


class _InMemory(torch.utils.data.Dataset):
    def __init__(self, batch):
        self.items = [dict(inputs=i, data_samples=s) for i, s in
                      zip(batch['inputs'], batch['data_samples'])]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def run_overhead(preset, cfg, batch, args):
    from mmengine.dataset import InfiniteSampler, pseudo_collate
    from mmengine.runner import Runner
    state = _Interleave(cfg, batch, args.device, args.warmup)
    dataset = _InMemory(batch)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=len(dataset), num_workers=0,
        sampler=InfiniteSampler(dataset, shuffle=False),
        collate_fn=pseudo_collate)
    iters = args.warmup + args.rounds
    o = cfg['optim']
    runner = Runner(
        model=build_model(cfg, args.device),
        work_dir=osp.join(args.work_dir, preset),
        train_dataloader=loader,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=iters),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(o)),
        param_scheduler=[dict(type='CosineAnnealingLR', T_max=iters,
                              by_epoch=False)],
        default_hooks=dict(
            runtime_info=dict(type='RuntimeInfoHook'),
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=50),
            param_scheduler=dict(type='ParamSchedulerHook'),
            sampler_seed=dict(type='DistSamplerSeedHook'),
            checkpoint=dict(type='CheckpointHook', interval=10**9,
                            by_epoch=False, save_last=False)),
        custom_hooks=[dict(type='SeCoMomentumHook',
                           momentum=cfg['momentum']), _make_hook(state)],
        default_scope='mmaction', log_level='WARNING',
        randomness=dict(seed=0),
        experiment_name=f'bench_{preset}_{os.getpid()}')
    runner.train()
    t = state.timings
    res = dict(variants={n: dict(cpu=stats(v.cpu), wall=stats(v.wall))
                         for n, v in t.items()})
    for n in ('runner', 'mmengine'):
        res[f'{n}_over_bare'] = dict(
            wall=ratio_stats(t[n].wall, t['bare'].wall),
            cpu=ratio_stats(t[n].cpu, t['bare'].cpu))
    if args.device.startswith('cuda'):
        res['peak_cuda_mib'] = {n: max(v) for n, v in state.peak.items()}
    return res


# ---------------------------------------------------------------- options --
def run_options(preset, cfg, batch, args):
    base = build_model(cfg, args.device)
    models, steps = {}, {}
    m = cfg['momentum']
    bf16 = torch.bfloat16
    for name in args.options:
        model = copy.deepcopy(base)
        # the options are measured against the batched key forward
        model.key_forward = 'per_view' if name == 'per_view' else 'batched'
        if 'channels_last' in name:
            channels_last_inputs(model)
        optim = make_optim_wrapper(model, cfg['optim'])
        dtype = bf16 if 'bf16' in name else None
        models[name] = model
        generic = name == 'queue_copy'
        steps[name] = (lambda mo, op, dt, g: lambda r: mmengine_step(
            mo, op, batch, m, dt, generic=g))(model, optim, dtype, generic)
    peaks = {}
    if args.device.startswith('cuda'):
        def wrap(name, fn):
            def run(r):
                torch.cuda.reset_peak_memory_stats()
                fn(r)
                sync(args.device)
                peaks[name] = max(peaks.get(name, 0.0), peak_cuda_mib())
            return run
        steps = {n: wrap(n, f) for n, f in steps.items()}
    timings = interleave(steps, rounds=args.rounds, warmup=args.warmup)
    ref = args.options[0]
    res = dict(reference=ref, variants={})
    for name, t in timings.items():
        res['variants'][name] = dict(
            cpu=stats(t.cpu), wall=stats(t.wall),
            speedup=ratio_stats(timings[ref].wall, t.wall))
    if peaks:
        res['peak_cuda_mib'] = peaks
    # the per-step copy of the queue in SeCo.loss (queue.clone().detach())
    q = base.queue
    clone = Timing()
    for _ in range(20):
        clone.run(lambda: (q.clone(), sync(args.device)))
    res['queue_clone_ms'] = stats(clone.wall)['median'] * 1e3
    res['queue_mib'] = q.numel() * q.element_size() / 2**20
    return res


# ----------------------------------------------------------------- memory --
def _rss_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def probe(preset, variant, batch_size, queue_len, crop=None, steps=2):
    """Fresh-process memory of ``steps`` steps of one variant (CPU, MiB)."""
    import seco_mm  # noqa: F401
    from seco_bare import BareSeCo
    crop = crop or PRESETS[preset]['crop']
    batch = make_batch(batch_size, crop, real=False)
    before = _rss_kib('VmRSS')
    cfg = model_cfg(preset, queue_len=queue_len)
    model = build_model(cfg)
    m = cfg['momentum']
    if variant == 'bare':
        bare = BareSeCo(model, **_sgd(cfg))
        del model
        step = lambda: bare.step(batch, m)  # noqa: E731
    else:
        model.key_forward = 'per_view' if variant == 'per_view' else 'batched'
        if variant == 'channels_last':
            channels_last_inputs(model)
        optim = make_optim_wrapper(model, cfg['optim'])
        dtype = torch.bfloat16 if variant == 'bf16' else None
        step = lambda: mmengine_step(model, optim, batch, m, dtype)  # noqa
    built = _rss_kib('VmRSS')
    for _ in range(steps):
        step()
    peak = _rss_kib('VmHWM')
    return dict(model_mib=(built - before) / 1024,
                peak_over_start_mib=(peak - before) / 1024,
                peak_rss_mib=peak / 1024)


def run_probes(preset, args):
    out = {}
    for variant in args.probe_variants:
        cmd = [sys.executable, osp.abspath(__file__), '--probe', preset,
               variant, '--batch', str(args.batch or
                                       PRESETS[preset]['batch'])]
        if args.threads:
            cmd += ['--threads', str(args.threads)]
        if args.crop:
            cmd += ['--crop', str(args.crop)]
        if args.queue_len:
            cmd += ['--queue-len', str(args.queue_len)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines()
                 if ln.startswith('{')]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f'memory probe {preset}/{variant} failed:\n'
                               f'{proc.stderr[-2000:]}')
        out[variant] = json.loads(lines[-1])
    return out


# ---------------------------------------------------------------- tables --
def summarise(res):
    out = []
    rows = []
    for preset, r in res['presets'].items():
        ov = r['overhead']
        for n, v in ov['variants'].items():
            ratio = [fmt_ratio(ov[f'{n}_over_bare'][k])
                     if n != 'bare' else '1.00x' for k in ('wall', 'cpu')]
            rows.append([preset, r['batch'], n, fmt_stat(v['wall'], digits=0),
                         fmt_stat(v['cpu'], digits=0)] + ratio)
    out.append('**Plugin overhead per training iteration** (ms, median '
               '[IQR]; ratios = paired per-iteration wall / CPU time over '
               'bare PyTorch)\n\n' + markdown_table(
                   ['model', 'batch', 'variant', 'wall ms', 'CPU ms',
                    'wall vs bare', 'CPU vs bare'], rows))
    rows = []
    for preset, r in res['presets'].items():
        op = r['options']
        for n, v in op['variants'].items():
            rows.append([preset, n, fmt_stat(v['wall'], digits=0),
                         fmt_ratio(v['speedup'])])
    out.append('**Step options** (mmengine path; speed-up = paired wall '
               f'time of "{res["presets"][next(iter(res["presets"]))]["options"]["reference"]}"'
               ' over the option)\n\n' + markdown_table(
                   ['model', 'option', 'wall ms', 'speed-up'], rows))
    rows = [[p, f"{r['options']['queue_mib']:.1f}",
             f"{r['options']['queue_clone_ms']:.2f}",
             f"{100 * r['options']['queue_clone_ms'] / 1e3 / r['options']['variants'][r['options']['reference']]['wall']['median']:.2f}%"]
            for p, r in res['presets'].items()]
    out.append('**Queue copy in SeCo.loss** (`self.queue.clone()` each '
               'step)\n\n' + markdown_table(
                   ['model', 'queue MiB', 'clone ms', 'share of step'], rows))
    rows = []
    for preset, r in res['presets'].items():
        for n, v in r.get('memory', {}).items():
            rows.append([preset, n, f"{v['model_mib']:.0f}",
                         f"{v['peak_over_start_mib']:.0f}",
                         f"{v['peak_rss_mib']:.0f}"])
        for part in ('overhead', 'options'):
            for n, v in r[part].get('peak_cuda_mib', {}).items():
                rows.append([preset, n, '', f'{v:.0f} (CUDA)', ''])
    if rows:
        out.append('**Memory** (CPU: fresh process per variant, 2 steps; '
                   'MiB)\n\n' + markdown_table(
                       ['model', 'variant', 'model + batch',
                        'peak over start', 'peak RSS'], rows))
    return '\n\n'.join(out)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--presets', nargs='+',
                        default=['r18_112', 'r50_224'], choices=list(PRESETS),
                        help='r18_112 / r50_224: the paper recipe with R18 at '
                        '112 px / R50 at 224 px; r18_demo: configs/'
                        'seco_r18_demo.py as `make demo` trains it')
    parser.add_argument('--batch', type=int, default=None,
                        help='per-step batch (default: preset\'s CPU batch)')
    parser.add_argument('--queue-len', type=int, default=None,
                        help='override the config\'s queue length')
    parser.add_argument('--crop', type=int, default=None,
                        help='view size (default: the preset\'s)')
    add_rounds_args(parser, rounds=5)
    parser.add_argument('--options', nargs='+', default=list(OPTIONS),
                        choices=list(OPTIONS))
    parser.add_argument('--probe-variants', nargs='*',
                        default=list(DEFAULT_PROBES),
                        choices=list(PROBE_VARIANTS))
    parser.add_argument('--work-dir',
                        default=osp.join(DEFAULT_OUT_DIR, 'runner_tmp'),
                        help='work dir of the Runner (logs only)')
    add_threads_arg(parser)
    parser.add_argument('--no-runner', action='store_true',
                        help='skip part 1 (overhead)')
    parser.add_argument('--probe', nargs=2, metavar=('PRESET', 'VARIANT'),
                        help=argparse.SUPPRESS)
    add_common_args(parser, 'train_step')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with bench_setup(args):
        if args.probe:  # a fresh process measuring one variant's memory
            preset, variant = args.probe
            print(json.dumps(probe(preset, variant, args.batch,
                                   args.queue_len, args.crop)))
            return None
        res = dict(benchmark='train_step', args=vars(args),
                   env=environment(args.device), presets={})
        for preset in args.presets:
            res['presets'][preset] = run_preset(preset, args)
    if args.no_runner:
        for r in res['presets'].values():
            r['overhead'] = dict(variants={})
    res['markdown'] = summarise(res)
    print(res['markdown'])
    write_json(res, args.json_out)
    return res


def run_preset(preset: str, args) -> dict:
    """Parity, overhead, options and memory of one preset."""
    batch_size = args.batch or PRESETS[preset]['batch']
    cfg = model_cfg(preset, queue_len=args.queue_len)
    crop = args.crop or PRESETS[preset]['crop']
    batch = make_batch(batch_size, crop)
    print(f'[bench_train_step] {preset} batch {batch_size}', flush=True)
    r = dict(batch=batch_size, crop=crop,
             queue_len=cfg['model']['queue_len'],
             parity=check_parity(cfg, batch, args.device))
    r['overhead'] = (run_overhead(preset, cfg, batch, args)
                     if not args.no_runner else None)
    r['options'] = run_options(preset, cfg, batch, args)
    if not args.device.startswith('cuda') and args.probe_variants:
        r['memory'] = run_probes(preset, args)
    return r


if __name__ == '__main__':
    main()
