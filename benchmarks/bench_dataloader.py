"""DataLoader settings for SeCo pretraining: workers, persistence, prefetch.

Builds the real loader (mmengine ``Runner.build_dataloader``: DefaultSampler,
pseudo_collate, seeded worker_init_fn) over a SeCoVideoDataset of the
benchmark clips with the demo pipeline (``--crop`` views), and measures
samples/s over ``--epochs`` short epochs for each setting. Settings run in
rotated order, ``--repeats`` times, and report the median. Without a model
in the loop this is the loader's ceiling; ``--with-model`` also runs the
demo SeCo model's train step in the main process (CPU training shares the
cores with the workers, which changes the best worker count).

    python benchmarks/bench_dataloader.py                # ~1-2 min, 2 cores
    python benchmarks/bench_dataloader.py --with-model --device cpu
    python benchmarks/bench_dataloader.py --device cuda  # adds pin_memory
"""
import argparse
import itertools
import os
import os.path as osp
import time


import numpy as np  # noqa: E402

from common import (DEFAULT_OUT_DIR, add_common_args,  # noqa: E402
                    add_threads_arg, environment, markdown_table,
                    recipe_view_pipeline, require_device, set_threads, stats,
                    write_json)
from clips import resolve_clips  # noqa: E402



def write_list(paths, num_samples, out_dir=DEFAULT_OUT_DIR):
    """An annotation list cycling through ``paths`` (absolute)."""
    os.makedirs(out_dir, exist_ok=True)
    ann = osp.join(out_dir, 'loader_list.txt')
    cyc = itertools.cycle(sorted(paths))
    with open(ann, 'w') as f:
        for _ in range(num_samples):
            f.write(f'{next(cyc)} 0\n')
    return ann


def build_dataset(ann, crop, keyframe_aware):
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    return DATASETS.build(dict(
        type='SeCoVideoDataset', ann_file=ann, data_prefix=dict(video=''),
        pipeline=[
            dict(type='SeCoSampleFrames', keyframe_aware=keyframe_aware),
            dict(type='SeCoMultiView', view_pipeline=recipe_view_pipeline(crop)),
            dict(type='FormatShape', input_format='NCHW'),
            dict(type='PackActionInputs', algorithm_keys=('seco_order', )),
        ]))


def build_loader(dataset, batch_size, workers, persistent, prefetch, pin):
    from mmengine.runner import Runner
    cfg = dict(batch_size=batch_size, num_workers=workers, dataset=dataset,
               sampler=dict(type='DefaultSampler', shuffle=True),
               pin_memory=pin, drop_last=True)
    if workers > 0:
        cfg.update(persistent_workers=persistent, prefetch_factor=prefetch)
    return Runner.build_dataloader(cfg, seed=0)


def build_model(device, crop):
    """The demo SeCo model (R18, 512-d heads, queue 1024) and its optimizer."""
    import torch
    from mmaction.registry import MODELS
    from mmengine.optim import OptimWrapper
    model = MODELS.build(dict(
        type='SeCo',
        backbone=dict(type='ResNet', depth=18, pretrained=None,
                      norm_eval=False),
        neck=dict(type='SeCoProjector', in_channels=512, hid_channels=512,
                  out_channels=128),
        inter_head=dict(type='InterFrameHead'),
        intra_head=dict(type='IntraFrameHead'),
        order_head=dict(type='OrderHead', in_channels=128),
        queue_len=1024, feat_dim=128,
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375],
                               format_shape='NCHW'))).to(device)
    model.init_weights()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01,
                                         momentum=0.9))
    return model, optim


def run_setting(loader, epochs, model=None, optim=None, device='cpu'):
    """Iterate ``epochs`` epochs; samples/s and first-batch latency."""
    import torch
    seen, first = 0, None
    t0 = time.perf_counter()
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            if first is None:
                first = time.perf_counter() - t0
            seen += len(batch['inputs'])
            if model is not None:
                model.train_step(batch, optim)
                model.momentum_update(0.99)
            elif device != 'cpu':
                torch.stack(batch['inputs']).to(device, non_blocking=True)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0), first


def settings(max_workers, cuda):
    out = [dict(workers=0, persistent=False, prefetch=None, pin=False)]
    for w in range(1, max_workers + 1):
        for persistent, prefetch in ((False, 2), (True, 2), (True, 4)):
            out.append(dict(workers=w, persistent=persistent,
                            prefetch=prefetch, pin=False))
    if cuda:
        out += [dict(s, pin=True) for s in out if s['workers'] > 0]
    return out


def label(s):
    if s['workers'] == 0:
        return 'workers=0 (main process)' + (', pin' if s['pin'] else '')
    return (f"workers={s['workers']}, persistent={s['persistent']}, "
            f"prefetch={s['prefetch']}" + (', pin' if s['pin'] else ''))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clips', nargs='+',
                        default=['bikes', 'carphone_pristine', 'long'])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--samples', type=int, default=24,
                        help='samples per epoch')
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--max-workers', type=int, default=3)
    parser.add_argument('--crop', type=int, default=112)
    parser.add_argument('--keyframe-aware', action='store_true')
    parser.add_argument('--with-model', action='store_true',
                        help='run the demo R18 SeCo train step per batch')
    add_threads_arg(parser,
                    help='torch threads of the main (training) process')
    add_common_args(parser, 'dataloader')
    args = parser.parse_args(argv)

    import seco_mm  # noqa: F401
    import torch
    set_threads(args.threads)
    require_device(args.device)
    cuda = args.device.startswith('cuda')
    clips = resolve_clips(args.clips)
    ann = write_list(clips.values(), args.samples)
    dataset = build_dataset(ann, args.crop, args.keyframe_aware)
    model = optim = None
    if args.with_model:
        model, optim = build_model(args.device, args.crop)
    grid = settings(args.max_workers, cuda)
    rates = {label(s): [] for s in grid}
    firsts = {label(s): [] for s in grid}
    for rep in range(args.repeats):
        k = rep % len(grid)
        for s in grid[k:] + grid[:k]:
            loader = build_loader(dataset, args.batch_size, s['workers'],
                                  s['persistent'], s['prefetch'], s['pin'])
            rate, first = run_setting(loader, args.epochs, model, optim,
                                      args.device)
            rates[label(s)].append(rate)
            firsts[label(s)].append(first)
            del loader
    res = dict(benchmark='dataloader', args=vars(args),
               env=environment(args.device),
               settings={n: dict(samples_per_s=stats(rates[n]),
                                 first_batch_s=stats(firsts[n]))
                         for n in rates})
    best = max(res['settings'],
               key=lambda n: res['settings'][n]['samples_per_s']['median'])
    res['best'] = best
    rows = [[n, f"{v['samples_per_s']['median']:.1f}",
             f"{v['samples_per_s']['iqr_pct']:.0f}%",
             f"{v['first_batch_s']['median']:.2f}"]
            for n, v in res['settings'].items()]
    what = ('loader + R18 train step' if args.with_model else 'loader only')
    what += f', {torch.get_num_threads()} torch thread(s) in the main process'
    res['markdown'] = (
        f'**DataLoader settings** ({what}, batch {args.batch_size}, '
        f'{args.samples} samples x {args.epochs} epochs, {args.crop}px '
        f'views, {"keyframe-aware" if args.keyframe_aware else "exact"} '
        f'sampling, {os.cpu_count()} cores; median of {args.repeats})\n\n' +
        markdown_table(['setting', 'samples/s', 'IQR', 'first batch s'],
                       rows) + f'\n\nFastest: {best}.')
    print(res['markdown'])
    write_json(res, args.json_out)
    return res


if __name__ == '__main__':
    main()
