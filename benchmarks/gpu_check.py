"""Is this machine ready to pretrain SeCo? A five-minute check for one GPU.

Prints five sections (markdown tables), each measured here:

1. ``environment``  device, torch, CUDA / cuDNN, CPU cores.
2. ``training throughput``  the paper's model (configs/seco_r50_kinetics.py:
   R50, 4 views of 224 px, queue 131072) stepped through
   ``model.train_step`` with the optimizer wrapper ``tools/train.py`` builds:
   samples/s and peak memory at per-GPU batch 32 / 64 / 128, each in fp32,
   mixed precision (``MixedPrecisionOptimWrapper``: fp16 + dynamic loss
   scaling on CUDA, bf16 on CPU) and mixed + channels-last
   (``ChannelsLastHook``). Synthetic uint8 views (the model's cost does not
   depend on pixel values). A batch that does not fit prints ``OOM``.
3. ``key forward``  ``model.key_forward`` 'batched' vs 'per_view' (mixed
   precision, middle batch).
4. ``data loader``  samples/s of the recipe's DataLoader (its worker count,
   prefetch, pin_memory and pipeline at 224 px) over the demo data
   (``--data DIR``, or a tiny set generated with tools/make_demo_data.py).
5. ``ddp step``  one training step of a one-process DistributedDataParallel
   group: NCCL on CUDA, gloo on CPU.

Without CUDA (or with ``--cpu-smoke``) it runs the same sections at smoke
sizes (R18, 64 px, batch 2 / 4, queue 4096, a few steps, 2 workers) so CI
keeps the script working; those figures say nothing about a GPU.

    bash benchmarks/gpu_check.sh                  # GPU, < 5 min
    bash benchmarks/gpu_check.sh --data data/demo --json-out gpu.json
    python benchmarks/gpu_check.py --cpu-smoke    # what the test runs
"""
import argparse
import copy
import os
import os.path as osp
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time


import torch  # noqa: E402

from common import ROOT, bench_setup, markdown_table, write_json  # noqa

RECIPE = osp.join(ROOT, 'configs', 'seco_r50_kinetics.py')
SECTIONS = ('environment', 'training throughput', 'key forward',
            'data loader', 'ddp step')
PRECISIONS = ('fp32', 'mixed', 'mixed+channels_last')

# sizes of a full GPU check and of the CPU smoke run
GPU_SIZES = dict(depth=50, crop=224, batches=(32, 64, 128), queue_len=None,
                 warmup=3, steps=8, key_batch=64, loader_batches=6,
                 loader_workers=None, loader_batch=None)
CPU_SIZES = dict(depth=18, crop=64, batches=(2, 4), queue_len=4096,
                 warmup=1, steps=2, key_batch=4, loader_batches=3,
                 loader_workers=2, loader_batch=4)


# ------------------------------------------------------------- helpers --
def _model_cfg(recipe, sizes):
    model = copy.deepcopy(recipe.model.to_dict())
    if sizes['depth'] != 50:
        width = 512 if sizes['depth'] in (18, 34) else 2048
        model['backbone']['depth'] = sizes['depth']
        model['neck'].update(in_channels=width, hid_channels=width)
    if sizes['queue_len']:
        model['queue_len'] = sizes['queue_len']
    return model


def _build(model_cfg, device, key_forward=None):
    from mmaction.registry import MODELS
    torch.manual_seed(0)
    cfg = copy.deepcopy(model_cfg)
    if key_forward:
        cfg['key_forward'] = key_forward
    model = MODELS.build(cfg)
    model.init_weights()
    return model.to(device).train()


def _optim_wrapper(recipe, model, mixed):
    """The recipe's optim_wrapper, type swapped as ``--amp`` does."""
    from mmaction.registry import OPTIM_WRAPPERS
    ow = copy.deepcopy(recipe.optim_wrapper.to_dict())
    opt = ow.pop('optimizer')
    opt = torch.optim.SGD(model.parameters(),
                          **{k: v for k, v in opt.items() if k != 'type'})
    if mixed:
        ow['type'] = 'MixedPrecisionOptimWrapper'
    return OPTIM_WRAPPERS.build(dict(ow, optimizer=opt))


def _batch(batch_size, crop, seed=0):
    from mmaction.structures import ActionDataSample
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (4, 3, crop, crop), generator=g,
                            dtype=torch.uint8) for _ in range(batch_size)]
    samples = []
    for i in range(batch_size):
        s = ActionDataSample()
        s.set_field(i % 2, 'seco_order')
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def _rss_peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time_steps(model, ow, batch, device, warmup, steps, momentum=0.999):
    """Median seconds per step and peak memory (MiB) of ``steps`` steps."""
    seco = getattr(model, 'module', model)  # a DDP wrapper's SeCo
    for _ in range(warmup):
        model.train_step(batch, ow)
        seco.momentum_update(momentum)
    _sync(device)
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.train_step(batch, ow)
        seco.momentum_update(momentum)
        _sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda'
            else _rss_peak_mib())
    return times[len(times) // 2], peak


def _is_oom(err):
    return isinstance(err, torch.cuda.OutOfMemoryError) or \
        'out of memory' in str(err)


# ------------------------------------------------------------ sections --
def section_environment(device):
    rows = [['device', torch.cuda.get_device_name() if device == 'cuda'
             else f'CPU ({platform.processor() or platform.machine()})'],
            ['torch', torch.__version__],
            ['CUDA / cuDNN', f'{torch.version.cuda} / '
             f'{torch.backends.cudnn.version()}' if device == 'cuda'
             else '-'],
            ['bf16 supported', str(torch.cuda.is_bf16_supported())
             if device == 'cuda' else 'autocast bf16 (CPU)'],
            ['CPU cores', str(os.cpu_count())],
            ['torch threads', str(torch.get_num_threads())]]
    if device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        rows.append(['GPU memory', f'{props.total_memory / 2**30:.1f} GiB'])
    return dict(rows=rows), markdown_table(['what', 'value'], rows)


def section_throughput(recipe, sizes, device):
    from seco_mm.engine import to_channels_last
    model_cfg = _model_cfg(recipe, sizes)
    results, rows = [], []
    for batch_size in sizes['batches']:
        batch = _batch(batch_size, sizes['crop'])
        for precision in PRECISIONS:
            model = ow = None
            try:
                model = _build(model_cfg, device)
                if precision.endswith('channels_last'):
                    to_channels_last(model)
                ow = _optim_wrapper(recipe, model, precision != 'fp32')
                sec, peak = _time_steps(model, ow, batch, device,
                                        sizes['warmup'], sizes['steps'])
                res = dict(batch=batch_size, precision=precision,
                           samples_per_s=batch_size / sec, step_ms=sec * 1e3,
                           peak_mib=peak)
            except RuntimeError as err:
                if not _is_oom(err):
                    raise
                res = dict(batch=batch_size, precision=precision, oom=True)
            del model, ow
            if device == 'cuda':
                torch.cuda.empty_cache()
            results.append(res)
            rows.append([batch_size, precision] + (
                ['OOM', '-', '-'] if res.get('oom') else
                [f"{res['samples_per_s']:.1f}", f"{res['step_ms']:.0f}",
                 f"{res['peak_mib']:.0f}"]))
    mem = 'peak CUDA MiB' if device == 'cuda' else 'peak RSS MiB (process)'
    model = f"R{sizes['depth']} @ {sizes['crop']} px"
    return dict(model=model, rows=results), markdown_table(
        ['batch', 'precision', 'samples/s', 'ms/step', mem], rows)


def section_key_forward(recipe, sizes, device):
    from seco_mm.engine import to_channels_last
    model_cfg = _model_cfg(recipe, sizes)
    batch = _batch(sizes['key_batch'], sizes['crop'])
    results, rows = [], []
    for mode in ('batched', 'per_view'):
        model = _build(model_cfg, device, key_forward=mode)
        to_channels_last(model)
        ow = _optim_wrapper(recipe, model, True)
        sec, peak = _time_steps(model, ow, batch, device, sizes['warmup'],
                                sizes['steps'])
        results.append(dict(key_forward=mode, samples_per_s=sizes[
            'key_batch'] / sec, step_ms=sec * 1e3, peak_mib=peak))
        rows.append([mode, sizes['key_batch'],
                     f"{sizes['key_batch'] / sec:.1f}", f'{sec * 1e3:.0f}',
                     f'{peak:.0f}'])
        del model, ow
    return dict(rows=results), markdown_table(
        ['key_forward', 'batch', 'samples/s', 'ms/step', 'peak MiB'], rows)


def ensure_demo_data(path, tmp_dir=None):
    """``path`` if given (must hold train.txt), else a tiny set generated
    under ``tmp_dir``."""
    if path:
        ann = osp.join(path, 'train.txt')
        if not osp.isfile(ann):
            raise SystemExit(f'--data {path}: no train.txt there (expected '
                             'the layout of tools/make_demo_data.py)')
        return path
    out = osp.join(tmp_dir or tempfile.mkdtemp(prefix='seco_gpu_check_'),
                   'demo')
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'make_demo_data.py'),
           '--out', out, '--num-train', '18', '--num-val', '9', '--frames',
           '16', '--size', '64', '--num-tracking-frames', '12']
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit('generating demo data failed:\n'
                         + proc.stderr[-2000:])
    return out


def section_loader(recipe, sizes, device, data_root, tmp_dir):
    """The recipe's train_dataloader over the demo clips (list repeated to
    fill the batches); samples/s after the first batch (worker start-up and
    the first prefetch are reported apart)."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(recipe.train_dataloader.to_dict())
    workers = sizes['loader_workers'] or loader_cfg['num_workers']
    batch_size = sizes['loader_batch'] or loader_cfg['batch_size']
    num_batches = sizes['loader_batches']
    with open(osp.join(data_root, 'train.txt')) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    need = batch_size * (num_batches + 1)
    ann = osp.join(tmp_dir, 'loader_train.txt')
    with open(ann, 'w') as f:
        f.write('\n'.join(lines[i % len(lines)] for i in range(need)) + '\n')
    loader_cfg.update(batch_size=batch_size, num_workers=workers,
                      pin_memory=device == 'cuda' and loader_cfg.get(
                          'pin_memory', False),
                      persistent_workers=False)
    if workers == 0:
        loader_cfg.pop('prefetch_factor', None)
    loader_cfg['dataset'].update(ann_file=ann, data_prefix=dict(
        video=osp.join(data_root, 'videos')))
    crop = sizes['crop']
    for t in loader_cfg['dataset']['pipeline']:
        for v in t.get('view_pipeline', []):
            if v['type'] == 'Resize':
                v['scale'] = (crop, crop)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    t0 = time.perf_counter()
    it = iter(loader)
    first = next(it)
    t_first = time.perf_counter() - t0
    t1 = time.perf_counter()
    n = 0
    for _ in range(num_batches):
        n += len(next(it)['inputs'])
    sec = time.perf_counter() - t1
    del it, loader
    shape = tuple(first['inputs'][0].shape)
    res = dict(workers=workers, batch=batch_size, samples=n,
               samples_per_s=n / sec, first_batch_s=t_first,
               sample_shape=shape, clips=len(lines))
    rows = [[workers, batch_size, 'x'.join(map(str, shape)), n,
             f'{n / sec:.1f}', f'{t_first:.1f}']]
    return res, markdown_table(['workers', 'batch', 'sample', 'samples timed',
                                'samples/s', 'first batch s'], rows)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def section_ddp(recipe, sizes, device):
    """One process, world size 1: build the group, wrap with mmengine's
    MMDistributedDataParallel as the Runner does, take real steps."""
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    backend = 'nccl' if device == 'cuda' else 'gloo'
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', str(_free_port()))
    own_group = not dist.is_initialized()
    if own_group:
        dist.init_process_group(backend=backend, rank=0, world_size=1)
    try:
        model = _build(_model_cfg(recipe, sizes), device)
        ddp = MMDistributedDataParallel(
            module=model, device_ids=[0] if device == 'cuda' else None,
            broadcast_buffers=False)
        ow = _optim_wrapper(recipe, model, True)
        batch = _batch(sizes['key_batch'], sizes['crop'])
        before = [p.detach().clone() for p in model.backbone.parameters()][:3]
        sec, peak = _time_steps(ddp, ow, batch, device, 1, sizes['steps'])
        moved = any(not torch.equal(a, b) for a, b in zip(
            before, list(model.backbone.parameters())[:3]))
        res = dict(backend=dist.get_backend(),
                   world_size=dist.get_world_size(), step_ms=sec * 1e3,
                   weights_updated=moved)
    finally:
        if own_group:
            dist.destroy_process_group()
    rows = [[res['backend'], res['world_size'], sizes['key_batch'],
             f"{res['step_ms']:.0f}", 'yes' if res['weights_updated'] else
             'NO']]
    return res, markdown_table(['backend', 'world size', 'batch', 'ms/step',
                                'weights updated'], rows)


# ---------------------------------------------------------------- main --
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cpu-smoke', action='store_true',
                        help='smoke sizes on CPU (automatic without CUDA)')
    parser.add_argument('--data', default=None,
                        help='demo data folder (tools/make_demo_data.py '
                        'layout); default: generate a tiny one')
    parser.add_argument('--batches', type=int, nargs='+', default=None,
                        help='per-GPU batches of section 2 (default 32 64 '
                        '128; CPU smoke 2 4)')
    parser.add_argument('--steps', type=int, default=None,
                        help='timed steps per measurement')
    parser.add_argument('--skip', nargs='*', default=[], choices=SECTIONS,
                        help='sections to leave out')
    parser.add_argument('--json-out', default=None)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with bench_setup(args):  # mmengine's INFO records out of the tables
        return run_check(args)


def run_check(args) -> dict:
    """Every section not skipped; prints their tables, returns the figures."""
    import seco_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    cuda = torch.cuda.is_available() and not args.cpu_smoke
    device = 'cuda' if cuda else 'cpu'
    sizes = dict(GPU_SIZES if cuda else CPU_SIZES)
    if args.batches:
        sizes['batches'] = tuple(args.batches)
    if args.steps:
        sizes['steps'] = args.steps
    if cuda:
        torch.backends.cudnn.benchmark = True
    recipe = Config.fromfile(RECIPE)
    t_start = time.perf_counter()
    mode = ('GPU check' if cuda else
            'CPU smoke run (smoke sizes; no GPU figure)')
    print(f'# seco-mm {mode}: {osp.relpath(RECIPE, ROOT)}, '
          f"R{sizes['depth']} @ {sizes['crop']} px\n", flush=True)
    out = dict(device=device, sizes={k: list(v) if isinstance(v, tuple)
                                     else v for k, v in sizes.items()},
               sections={})
    with tempfile.TemporaryDirectory(prefix='seco_gpu_check_') as tmp_dir:
        _run_sections(args, recipe, sizes, device, tmp_dir, out)
    out['seconds'] = time.perf_counter() - t_start
    print(f'total {out["seconds"]:.0f} s')
    if args.json_out:
        write_json(out, args.json_out)
    return out


def _run_sections(args, recipe, sizes, device, tmp_dir, out):
    for name in SECTIONS:
        if name in args.skip:
            continue
        t0 = time.perf_counter()
        if name == 'environment':
            res, table = section_environment(device)
        elif name == 'training throughput':
            res, table = section_throughput(recipe, sizes, device)
        elif name == 'key forward':
            res, table = section_key_forward(recipe, sizes, device)
        elif name == 'data loader':
            data = ensure_demo_data(args.data, tmp_dir)
            res, table = section_loader(recipe, sizes, device, data, tmp_dir)
        else:
            res, table = section_ddp(recipe, sizes, device)
        res['seconds'] = time.perf_counter() - t0
        out['sections'][name] = res
        print(f'## {name}\n\n{table}\n', flush=True)


if __name__ == '__main__':
    main()
