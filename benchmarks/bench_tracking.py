"""Tracking speed: SiamFC frames per second on the demo OTB sequences.

For each tracker config (the demo R18 one at 63/127 crops and the paper-scale
R50 one at 127/255 crops; randomly initialised backbones: speed does not
depend on the weights) and each sequence:

- ``track fps``  ``init`` on frame 0 and ``track`` on the others, frames
  already in memory (the tracker alone);
- ``OPE fps``    seco_mm.tracking.apis.track_sequence, i.e. what
  tools/eval_tracking.py reports (JPEG reading included).

Configs alternate sequence by sequence, ``--repeats`` times; medians.
Uses data/demo/otb if present, else writes a small demo set with
tools/make_demo_data.py under work_dirs/bench/demo.

    python benchmarks/bench_tracking.py                 # ~1 min, R18 demo
    python benchmarks/bench_tracking.py --configs siamfc_r50_otb100 \
        --max-frames 10                                 # ~1 fps on 1 core
    python benchmarks/bench_tracking.py --data data/OTB100 --device cuda \
        --configs siamfc_r18_demo siamfc_r50_otb100 --max-frames 0
"""
import argparse
import os.path as osp
import time


import numpy as np  # noqa: E402

from clips import demo_root  # noqa: E402
from common import (ROOT, add_common_args, add_threads_arg,  # noqa: E402
                    bench_setup, environment, markdown_table, stats,
                    write_json)

CONFIGS = {
    'siamfc_r18_demo': 'configs/tracking/siamfc_r18_demo.py',
    'siamfc_r50_otb100': 'configs/tracking/siamfc_r50_otb100.py',
}


def demo_otb(path=None):
    """An OTB-layout folder: ``path``, else the demo set's (see clips.py)."""
    if path:
        if not osp.isdir(path):
            raise FileNotFoundError(f'--data {path}: not a folder')
        return path
    root = demo_root()
    if root is None:
        raise FileNotFoundError('no data/demo and tools/make_demo_data.py is '
                                'missing: pass --data OTB_FOLDER')
    return osp.join(root, 'otb')


def load(config, data_root, device):
    from mmengine.config import Config
    from mmaction.registry import DATASETS
    from seco_mm.tracking.apis import build_tracker, set_backbone_checkpoint
    cfg = Config.fromfile(osp.join(ROOT, config))
    set_backbone_checkpoint(cfg, None)
    test_cfg = dict(cfg.test_dataset)
    test_cfg.update(data_root=data_root, ann_file='')
    seqs = DATASETS.build(test_cfg)
    model = build_tracker(cfg, device=device, quiet=True)
    return model, [seqs[i] for i in range(len(seqs))]


def track_in_memory(model, frames, gt, device):
    import torch
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        model.init(frames[0], gt[0])
        for img in frames[1:]:
            model.track(img)
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default=None, help='OTB-layout folder')
    parser.add_argument('--configs', nargs='+', default=['siamfc_r18_demo'],
                        choices=list(CONFIGS))
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--max-frames', type=int, default=40,
                        help='frames per sequence to track (0 = all)')
    add_threads_arg(parser, default=1,
                    help='torch threads (0 = torch default)')
    add_common_args(parser, 'tracking')
    args = parser.parse_args(argv)
    with bench_setup(args):
        out = measure(args)
    print(out['markdown'])
    write_json(out, args.json_out)
    return out


def measure(args) -> dict:
    """Track the sequences with every config; fps figures and table."""
    import torch
    from mmengine.registry import init_default_scope
    from seco_mm.tracking.apis import track_sequence
    from seco_mm.tracking.datasets.transforms import read_rgb
    init_default_scope('mmaction')
    data_root = demo_otb(args.data)
    trackers, seqs = {}, None
    for name in args.configs:
        trackers[name], seqs = load(CONFIGS[name], data_root, args.device)
    if args.max_frames:
        seqs = [dict(s, frame_paths=list(s['frame_paths'])[:args.max_frames],
                     gt_bboxes=np.asarray(s['gt_bboxes'])[:args.max_frames])
                for s in seqs]
    frames = {s['video_name']: [read_rgb(p) for p in s['frame_paths']]
              for s in seqs}
    track = {n: [] for n in trackers}
    ope = {n: [] for n in trackers}
    for name, model in trackers.items():  # warm-up
        track_in_memory(model, frames[seqs[0]['video_name']][:3],
                        seqs[0]['gt_bboxes'], args.device)
    for rep in range(args.repeats):
        for i, seq in enumerate(seqs):
            names = list(trackers)
            k = (rep + i) % len(names)
            for name in names[k:] + names[:k]:
                model = trackers[name]
                n = len(seq['frame_paths'])
                secs = track_in_memory(model, frames[seq['video_name']],
                                       seq['gt_bboxes'], args.device)
                track[name].append(n / secs)
                res = track_sequence(model, seq)
                ope[name].append(res['num_frames'] / res['seconds'])
    out = dict(benchmark='tracking', args=vars(args),
               env=environment(args.device), data=data_root,
               sequences=[s['video_name'] for s in seqs],
               frame_size=list(frames[seqs[0]['video_name']][0].shape),
               trackers={n: dict(track_fps=stats(track[n]),
                                 ope_fps=stats(ope[n])) for n in trackers})
    rows = [[n, f"{v['track_fps']['median']:.1f}",
             f"{v['track_fps']['iqr_pct']:.0f}%",
             f"{v['ope_fps']['median']:.1f}"]
            for n, v in out['trackers'].items()]
    h, w = out['frame_size'][:2]
    out['markdown'] = (
        f'**SiamFC tracking speed** ({len(seqs)} sequences of {data_root}, '
        f'{w}x{h} frames, up to {args.max_frames or "all"} frames each, '
        f'{args.device}, {torch.get_num_threads()} thread(s); fps = frames '
        'per second, median over sequences x repeats)\n\n' + markdown_table(
            ['tracker', 'track fps', 'IQR', 'OPE fps (with JPEG reading)'],
            rows))
    return out


if __name__ == '__main__':
    main()
