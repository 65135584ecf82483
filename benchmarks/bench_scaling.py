"""Scaling: DDP with 1 and 2 processes on the same total batch; queue memory.

Part 1, DDP (gloo on CPU, NCCL on CUDA): torchrun launches this file in
``--worker`` mode; every rank builds the same SeCo model (the preset's
config), wraps it in mmengine's ``MMDistributedDataParallel`` when the
world has more than one process (``device_ids=None`` on CPU, as
seco_mm.compat.setup_distributed configures tools/train.py), and runs
``train_step`` + EMA on its share of the total batch (synthetic uint8 views,
so decoding does not compete for the cores). Iterations are fenced by
barriers; rank 0 reports. Layouts alternate run by run, ``--repeats``
times. On CPU the layouts compare equal core counts: 1 process x 2 threads
vs 2 processes x 1 thread (and 1 x 1 as the one-core reference).

Part 2, queue memory: one fresh process per ``queue_len`` builds the model,
trains ``--queue-iters`` steps and records the queue's bytes, whether its
storage ever moves or grows, and RSS after every step.

    python benchmarks/bench_scaling.py                      # ~2-3 min
    python benchmarks/bench_scaling.py --total-batch 32 --iters 10
    python benchmarks/bench_scaling.py --device cuda --layouts 1x1 2x1
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time


import numpy as np  # noqa: E402

from common import (add_common_args, add_threads_arg,  # noqa: E402
                    bench_setup, environment, markdown_table, set_threads,
                    stats, write_json)

DEFAULT_LAYOUTS = ('1x2', '2x1', '1x1')  # processes x threads


# ----------------------------------------------------------------- worker --
def worker(args):
    import torch
    import torch.distributed as dist
    import seco_mm  # noqa: F401
    from mmengine.model import MMDistributedDataParallel
    from train_utils import (build_model, make_batch, make_optim_wrapper,
                             model_cfg, PRESETS, sync)
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    device = args.device
    if world > 1:
        if device.startswith('cuda'):
            local = int(os.environ.get('LOCAL_RANK', '0'))
            torch.cuda.set_device(local)
            device = f'cuda:{local}'
            dist.init_process_group('nccl')
        else:
            dist.init_process_group('gloo')
    if args.total_batch % world:
        raise SystemExit(f'--total-batch {args.total_batch} is not divisible '
                         f'by {world} processes')
    cfg = model_cfg(args.preset, queue_len=args.queue_len)
    model = build_model(cfg, device)
    inner = model
    if world > 1:
        model = MMDistributedDataParallel(
            module=model, device_ids=None if device == 'cpu' else [device],
            broadcast_buffers=False)
    optim = make_optim_wrapper(model, cfg['optim'])
    batch = make_batch(args.total_batch // world,
                       args.crop or PRESETS[args.preset]['crop'], seed=rank,
                       real=False)
    times = []
    for it in range(args.warmup + args.iters):
        if world > 1:
            dist.barrier()
        sync(device)
        t0 = time.perf_counter()
        model.train_step(batch, optim)
        inner.momentum_update(cfg['momentum'])
        sync(device)
        if world > 1:
            dist.barrier()
        if it >= args.warmup:
            times.append(time.perf_counter() - t0)
    if rank == 0:
        print('RESULT ' + json.dumps(dict(world=world, threads=args.threads,
                                          times=times)), flush=True)
    if world > 1:
        dist.destroy_process_group()


def launch(layout, args):
    procs, threads = (int(x) for x in layout.split('x'))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
           f'--nproc_per_node={procs}', osp.abspath(__file__), '--worker',
           '--preset', args.preset, '--total-batch', str(args.total_batch),
           '--iters', str(args.iters), '--warmup', str(args.warmup),
           '--threads', str(threads), '--device', args.device]
    if args.queue_len:
        cmd += ['--queue-len', str(args.queue_len)]
    if args.crop:
        cmd += ['--crop', str(args.crop)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f'DDP run {layout} failed (rc {proc.returncode}):'
                           f'\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}')
    return json.loads(lines[-1][len('RESULT '):])


def run_ddp(args):
    runs = {lay: [] for lay in args.layouts}
    for rep in range(args.repeats):
        order = list(args.layouts)
        k = rep % len(order)
        for lay in order[k:] + order[:k]:
            runs[lay].extend(launch(lay, args)['times'])
    out = {}
    for lay, times in runs.items():
        st = stats(times)
        out[lay] = dict(iter_s=st,
                        samples_per_s=args.total_batch / st['median'])
    return out


# ------------------------------------------------------------ queue probe --
def _rss_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def queue_probe(queue_len, args):
    import seco_mm  # noqa: F401
    from train_utils import (build_model, make_batch, make_optim_wrapper,
                             mmengine_step, model_cfg)
    set_threads(args.threads or 1)
    batch = make_batch(args.queue_batch, args.queue_crop, real=False)
    rss0 = _rss_mib()
    cfg = model_cfg(args.preset, queue_len=queue_len)
    model = build_model(cfg)
    optim = make_optim_wrapper(model, cfg['optim'])
    queue = model.queue
    ptr0, shape0 = queue.data_ptr(), tuple(queue.shape)
    rss, ptrs, times = [_rss_mib()], [int(model.queue_ptr)], []
    for _ in range(args.queue_iters):
        t0 = time.perf_counter()
        mmengine_step(model, optim, batch, cfg['momentum'])
        times.append(time.perf_counter() - t0)
        rss.append(_rss_mib())
        ptrs.append(int(model.queue_ptr))
    state_bytes = sum(v.numel() * v.element_size()
                      for k, v in model.state_dict().items() if k == 'queue')
    return dict(queue_len=queue_len,
                queue_bytes=queue.numel() * queue.element_size(),
                state_dict_queue_bytes=state_bytes,
                same_storage=(model.queue.data_ptr() == ptr0 and
                              tuple(model.queue.shape) == shape0),
                rss_before_model_mib=rss0, rss_mib=rss, queue_ptr=ptrs,
                step_s=stats(times[1:] or times))


def run_queue(args):
    out = {}
    for k in args.queue_lens:
        cmd = [sys.executable, osp.abspath(__file__), '--queue-probe', str(k),
               '--preset', args.preset, '--queue-iters', str(args.queue_iters),
               '--queue-batch', str(args.queue_batch), '--queue-crop',
               str(args.queue_crop), '--threads', str(args.threads or 1)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines()
                 if ln.startswith('RESULT ')]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f'queue probe {k} failed:\n'
                               f'{proc.stderr[-3000:]}')
        out[str(k)] = json.loads(lines[-1][len('RESULT '):])
    return out


# ---------------------------------------------------------------- tables --
def summarise(res, args):
    out = []
    if res.get('ddp'):
        base = res['ddp'].get('1x2') or next(iter(res['ddp'].values()))
        rows = []
        for lay, v in res['ddp'].items():
            p, t = lay.split('x')
            rows.append([p, t, f"{v['iter_s']['median'] * 1e3:.0f}",
                         f"{v['iter_s']['iqr_pct']:.0f}%",
                         f"{v['samples_per_s']:.2f}",
                         f"{v['samples_per_s'] / base['samples_per_s']:.2f}"])
        ref = '1x2' if '1x2' in res['ddp'] else next(iter(res['ddp']))
        out.append(f'**DDP on {args.device}** ({args.preset}, total batch '
                   f'{args.total_batch}, {args.iters} iterations x '
                   f'{args.repeats} runs per layout; throughput relative to '
                   f'layout {ref})\n\n' + markdown_table(
                       ['processes', 'threads each', 'ms / iter', 'IQR',
                        'samples/s', 'relative'], rows))
    if res.get('queue'):
        rows = []
        for k, v in res['queue'].items():
            rss = v['rss_mib']
            growth = rss[-1] - rss[min(2, len(rss) - 1)]
            rows.append([k, f"{v['queue_bytes'] / 2**20:.2f}",
                         f"{v['state_dict_queue_bytes'] / 2**20:.2f}",
                         'yes' if v['same_storage'] else 'NO',
                         f"{rss[0] - v['rss_before_model_mib']:.0f}",
                         f"{growth:+.1f}",
                         f"{v['step_s']['median'] * 1e3:.0f}",
                         v['queue_ptr'][-1]])
        out.append(f'**Queue memory** ({args.preset} at {args.queue_crop}px, '
                   f'batch {args.queue_batch}, {args.queue_iters} steps; '
                   'RSS growth = last step minus step 2)\n\n' + markdown_table(
                       ['queue_len', 'buffer MiB', 'in state_dict MiB',
                        'fixed storage', 'model RSS MiB',
                        'RSS growth MiB', 'ms / step', 'final ptr'], rows))
    return '\n\n'.join(out)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--preset', default='r18_112',
                        choices=['r18_112', 'r50_224', 'r18_demo'])
    parser.add_argument('--total-batch', type=int, default=16)
    parser.add_argument('--crop', type=int, default=None,
                        help='view size in the DDP runs (default: preset\'s)')
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--layouts', nargs='*', default=list(DEFAULT_LAYOUTS),
                        help='PROCESSESxTHREADS, e.g. 1x2 2x1')
    parser.add_argument('--queue-len', type=int, default=None,
                        help='queue length in the DDP runs (config default)')
    parser.add_argument('--queue-lens', nargs='*', type=int,
                        default=[1024, 131072, 524288])
    parser.add_argument('--queue-iters', type=int, default=5)
    parser.add_argument('--queue-batch', type=int, default=4)
    parser.add_argument('--queue-crop', type=int, default=64)
    add_threads_arg(parser, default=1,
                    help='(worker / queue probe) torch threads')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--queue-probe', type=int, help=argparse.SUPPRESS)
    add_common_args(parser, 'scaling')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker or args.queue_probe:  # a child process: one measurement
        with bench_setup(args):
            if args.worker:
                return worker(args)
            print('RESULT ' + json.dumps(queue_probe(args.queue_probe, args)))
            return None
    res = dict(benchmark='scaling', args=vars(args),
               env=environment(args.device))
    if args.layouts:
        print(f'[bench_scaling] DDP layouts {args.layouts}', flush=True)
        res['ddp'] = run_ddp(args)
    if args.queue_lens:
        print(f'[bench_scaling] queue lengths {args.queue_lens}', flush=True)
        res['queue'] = run_queue(args)
    res['markdown'] = summarise(res, args)
    print(res['markdown'])
    write_json(res, args.json_out)
    return res


if __name__ == '__main__':
    main()
