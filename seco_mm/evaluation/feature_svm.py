"""The paper's linear protocol: frozen frame features + a linear SVM.

SeCo (AAAI 2021, Sec. 4.2; DESIGN.md section 4) evaluates a frozen backbone
on Kinetics-400 like this: per video, ``num_frames`` (30) uniformly spaced
frames, centre crop (224), the globally average-pooled last-stage feature of
each frame (2048-d for R50, 512-d for R18), averaged over the frames; then an
L2-regularised L2-loss (squared hinge) linear SVM with C = 1 (liblinear,
primal, one-vs-rest) is trained on the train list and scored on the val list.
That is ``pooling='mean'``; ``pooling='mean+diff'`` (see :func:`temporal_pool`)
is a second, motion-aware descriptor for data whose classes differ in motion.

Frames are read with mmaction2's own pipeline (``VideoDataset``,
``DecordInit`` / ``SampleFrames(test_mode=True)`` / ``DecordDecode``: only the
needed frames are decoded), normalised with ImageNet mean/std in RGB 0-255
(mmaction2's ``ActionDataPreprocessor`` values). Decoding happens once per
video for any number of backbones (e.g. SeCo and random-init baselines).
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

__all__ = [
    'MEAN', 'STD', 'build_probe_backbone', 'build_probe_dataset',
    'extract_features', 'temporal_pool', 'mean_class_accuracy',
    'fit_and_evaluate', 'probe_protocol', 'run_probe', 'summary_table',
    'compare_with_random'
]

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
STANDARDIZE = ('none', 'zscore', 'l2')
_POOLING_TEXT = {  # pooling -> how the protocol JSON describes it
    'mean': 'averaged over frames',
    'mean+diff': 'averaged over frames, concatenated with the mean absolute '
                 'difference of consecutive sampled frames (2x the dim)',
}
POOLINGS = tuple(_POOLING_TEXT)


def build_probe_backbone(checkpoint: Optional[str] = None,
                         depth: Optional[int] = None,
                         seed: int = 0,
                         key_encoder: bool = False
                         ) -> Tuple[nn.Module, dict]:
    """An mmaction2 ``ResNet`` in eval mode, from a file or randomly initialised.

    Args:
        checkpoint: SeCo checkpoint or exported backbone (path or URL, read
            once and weights-only), or the ``BackboneWeights`` already read
            from one; ``None`` for a random-init backbone (mmaction2's
            default init: Kaiming convs, BN weight 1) drawn with ``seed``.
            The architecture comes from the weights' names and shapes, never
            from a config stored in the file.
        depth: ResNet depth for random init (with a checkpoint: must agree
            with the weights, else ValueError).
        key_encoder: with a SeCo checkpoint, use the momentum encoder.

    Returns:
        tuple: (backbone, info dict with ``init``, ``cfg``, ``source``).
    """
    from seco_mm.models.utils.checkpoint_format import (BackboneWeights,
                                                        build_backbone,
                                                        build_resnet,
                                                        read_backbone)

    if checkpoint is not None:
        weights = checkpoint if isinstance(checkpoint, BackboneWeights) \
            else read_backbone(checkpoint, key_encoder=key_encoder)
        cfg = weights.cfg
        if depth is not None and cfg['depth'] != depth:
            raise ValueError(f'{weights.source}: holds a ResNet-'
                             f'{cfg["depth"]} backbone, but depth={depth} '
                             'was asked for')
        backbone = build_backbone(weights)
        info = dict(init='checkpoint', source=weights.source,
                    encoder=weights.encoder or 'query')
    else:
        if depth is None:
            raise ValueError('a random-init backbone needs depth')
        cfg = dict(type='ResNet', depth=depth)
        torch.manual_seed(seed)
        backbone = build_resnet(cfg)
        backbone.init_weights()
        info = dict(init=f'random (mmaction2 default init, seed {seed})',
                    seed=seed)
    info['cfg'] = dict(cfg)
    backbone.eval()  # mmaction2's ResNet.train() returns None: no chaining
    return backbone, info


def _check_list(list_file: str, data_prefix: str) -> None:
    """Fail early, naming file and line, on a bad mmaction2 video list."""
    if not osp.isfile(list_file):
        raise FileNotFoundError(f'annotation list {list_file} does not exist')
    with open(list_file) as f:
        for num, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                raise ValueError(f'{list_file}:{num}: expected '
                                 f'"<relative/path.mp4> <int label>", got '
                                 f'{line.strip()!r}')
            if not osp.isfile(osp.join(data_prefix, parts[0])):
                raise FileNotFoundError(
                    f'{list_file}:{num}: video {parts[0]!r} not found under '
                    f'{data_prefix}')


def build_probe_dataset(list_file: str, data_prefix: str, num_frames: int,
                        crop_size: int, resize: Optional[int] = None):
    """mmaction2 ``VideoDataset`` giving (num_frames, 3, crop, crop) uint8.

    Frames: ``SampleFrames(clip_len=1, num_clips=num_frames, test_mode=True)``
    (the centres of ``num_frames`` equal segments), optional short-side
    ``Resize(-1, resize)``, ``CenterCrop(crop_size)``.
    """
    from mmaction.datasets import VideoDataset
    from mmengine.registry import DefaultScope

    _check_list(list_file, data_prefix)
    pipeline = [
        dict(type='DecordInit', io_backend='disk'),
        dict(type='SampleFrames', clip_len=1, frame_interval=1,
             num_clips=num_frames, test_mode=True),
        dict(type='DecordDecode'),
    ]
    if resize:
        pipeline.append(dict(type='Resize', scale=(-1, resize)))
    pipeline += [
        dict(type='CenterCrop', crop_size=crop_size),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmaction'):
        return VideoDataset(ann_file=list_file,
                            data_prefix=dict(video=data_prefix),
                            pipeline=pipeline, test_mode=True)


def _collate(batch: List[dict]) -> Tuple[torch.Tensor, np.ndarray]:
    inputs = torch.stack([b['inputs'] for b in batch])  # (B, T, 3, S, S)
    labels = np.array([int(b['data_samples'].gt_label) for b in batch])
    return inputs, labels


@torch.no_grad()
def _video_features(backbone: nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """frames: (B, T, 3, S, S) float normalised -> (B, T, C) pooled."""
    b, t = frames.shape[:2]
    out = backbone(frames.flatten(0, 1))
    if isinstance(out, (tuple, list)):
        out = out[-1]
    pooled = out.mean(dim=(2, 3))  # (B*T, C): global average pool
    return pooled.view(b, t, -1)


def temporal_pool(frame_feats: np.ndarray,
                  pooling: str = 'mean') -> np.ndarray:
    """Per-video descriptor from per-frame features.

    Args:
        frame_feats: (N, T, C) pooled features of T uniformly spaced frames.
        pooling: ``'mean'``: (N, C), the frame average (the paper's linear
            protocol); ``'mean+diff'``: (N, 2C), the frame average next to
            the mean absolute change between consecutive sampled frames,
            ``mean_t |f[t+1] - f[t]|``, so a linear classifier can also see
            how much, and in which feature channels, a video changes in time.
    """
    if frame_feats.ndim != 3:
        raise ValueError(f'expected (N, T, C) frame features, got shape '
                         f'{frame_feats.shape}')
    if pooling == 'mean':
        return frame_feats.mean(axis=1)
    if pooling == 'mean+diff':
        if frame_feats.shape[1] < 2:
            raise ValueError("pooling 'mean+diff' needs at least 2 frames "
                             'per video')
        change = np.abs(np.diff(frame_feats, axis=1)).mean(axis=1)
        return np.concatenate([frame_feats.mean(axis=1), change], axis=1)
    raise ValueError(f'pooling must be one of {POOLINGS}, got {pooling!r}')


def extract_features(backbones: Dict[str, nn.Module], dataset,
                     videos_per_batch: int = 4, num_workers: int = 0
                     ) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Pooled features of every frame of every video, for every backbone.

    Returns:
        tuple: ({name: (N, T, C) float32}, labels (N,) int64).
    """
    from mmengine.utils import ProgressBar

    loader = torch.utils.data.DataLoader(
        dataset, batch_size=videos_per_batch, shuffle=False,
        num_workers=num_workers, collate_fn=_collate)
    mean = torch.tensor(MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 1, 3, 1, 1)
    feats = {name: [] for name in backbones}
    labels = []
    for m in backbones.values():
        m.eval()
    bar = ProgressBar(len(dataset))
    for inputs, label in loader:
        frames = (inputs.float() - mean) / std
        for name, m in backbones.items():
            feats[name].append(_video_features(m, frames).numpy())
        labels.append(label)
        for _ in range(len(label)):
            bar.update()
    print()
    return ({k: np.concatenate(v).astype(np.float32) for k, v in feats.items()},
            np.concatenate(labels).astype(np.int64))


def mean_class_accuracy(pred: np.ndarray, label: np.ndarray) -> float:
    """Mean over the classes present in ``label`` of per-class recall."""
    classes = np.unique(label)
    return float(np.mean([(pred[label == c] == c).mean() for c in classes]))


def _standardize(train_x, val_x, mode):
    if mode == 'none':
        return train_x, val_x
    if mode == 'zscore':  # statistics of the train set only
        mu, sd = train_x.mean(0), train_x.std(0) + 1e-8
        return (train_x - mu) / sd, (val_x - mu) / sd
    if mode == 'l2':
        def norm(x):
            return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
        return norm(train_x), norm(val_x)
    raise ValueError(f'standardize must be one of {STANDARDIZE}, got {mode!r}')


def fit_and_evaluate(train_x: np.ndarray, train_y: np.ndarray,
                     val_x: np.ndarray, val_y: np.ndarray, C: float = 1.0,
                     standardize: str = 'none', max_iter: int = 5000) -> dict:
    """Train a liblinear L2-reg. L2-loss SVM (primal, OvR); score val.

    Args:
        train_x: (N, D) features; train_y: (N,) labels; same for val.

    Returns:
        dict: ``top1``, ``mean_class_acc`` (both in [0, 1]), ``train_top1``.
    """
    from sklearn.svm import LinearSVC

    if len(np.unique(train_y)) < 2:
        raise ValueError('the SVM needs at least 2 classes in the train set')
    tx, vx = _standardize(np.asarray(train_x, np.float64),
                          np.asarray(val_x, np.float64), standardize)
    svm = LinearSVC(C=C, penalty='l2', loss='squared_hinge', dual=False,
                    max_iter=max_iter)
    svm.fit(tx, train_y)
    pred = svm.predict(vx)
    return dict(top1=float((pred == val_y).mean()),
                mean_class_acc=mean_class_accuracy(pred, val_y),
                train_top1=float((svm.predict(tx) == train_y).mean()))


def probe_protocol(num_frames, crop_size, resize, feature_dim, C,
                   standardize, pooling='mean') -> dict:
    """The exact protocol, as written into the result JSON."""
    return dict(
        frames_per_video=num_frames,
        frame_sampling='uniform: centre frame of each of num_frames equal '
                       'segments (mmaction2 SampleFrames test_mode)',
        resize_short_side=resize, crop=f'centre {crop_size}x{crop_size}',
        normalisation=dict(mean=MEAN, std=STD, space='RGB 0-255'),
        feature=f'global average pool of the last ResNet stage, backbone in '
                f'eval mode, {_POOLING_TEXT[pooling]}',
        pooling=pooling,
        feature_dim=feature_dim,
        classifier='sklearn LinearSVC (liblinear): L2-regularised, L2-loss '
                   '(squared hinge), primal (dual=False), one-vs-rest',
        C=C, standardisation=standardize)


def _fingerprint(*parts) -> str:
    h = hashlib.sha1()
    for p in parts:
        if isinstance(p, str) and osp.isfile(p):
            st = os.stat(p)
            p = f'{osp.abspath(p)}:{st.st_size}:{st.st_mtime_ns}'
        h.update(repr(p).encode())
    return h.hexdigest()[:10]


def run_probe(backbones: Dict[str, Tuple[nn.Module, dict]],
              train_list: str, val_list: str, data_prefix: str, work_dir: str,
              num_frames: int = 30, crop_size: int = 224,
              resize: Optional[int] = None, C: float = 1.0,
              standardize: str = 'none', pooling: str = 'mean',
              videos_per_batch: int = 4, num_workers: int = 0,
              out_json: Optional[str] = None) -> dict:
    """Probe one or more backbones; cache features as .npy; write JSON.

    Per-frame features (N, T, C) are cached, so probing the same backbones
    with another ``pooling`` (see :func:`temporal_pool`) decodes nothing.

    Args:
        backbones: ``{name: (module, info)}`` from :func:`build_probe_backbone`.

    Returns:
        dict: ``{'protocol': ..., 'results': {name: metrics + backbone}}``.
    """
    if pooling not in POOLINGS:
        raise ValueError(f'pooling must be one of {POOLINGS}, got '
                         f'{pooling!r}')
    os.makedirs(work_dir, exist_ok=True)
    data_cfg = (data_prefix, num_frames, crop_size, resize)
    feats, y = {name: {} for name in backbones}, {}
    for split, list_file in (('train', train_list), ('val', val_list)):
        dataset = build_probe_dataset(list_file, data_prefix, num_frames,
                                      crop_size, resize)
        y[split] = np.array([dataset.get_data_info(i)['label']
                             for i in range(len(dataset))], dtype=np.int64)
        paths, todo = {}, {}
        for name, (module, info) in backbones.items():
            key = _fingerprint(info.get('source'),
                               json.dumps(info, sort_keys=True, default=str),
                               list_file, *data_cfg)
            paths[name] = osp.join(work_dir,
                                   f'frame_feats_{name}_{split}_{key}.npy')
            if not osp.isfile(paths[name]):
                todo[name] = module
        if todo:
            print(f'[linear probe] {split}: {len(dataset)} videos x '
                  f'{num_frames} frames through {sorted(todo)}')
            got, labels = extract_features(todo, dataset, videos_per_batch,
                                           num_workers)
            assert np.array_equal(labels, y[split])
            for name in todo:
                np.save(paths[name], got[name])
        else:
            print(f'[linear probe] {split}: cached features in {work_dir}')
        for name in backbones:
            feats[name][split] = np.load(paths[name])

    results, dims = {}, set()
    for name, (_, info) in backbones.items():
        f = {k: temporal_pool(v, pooling) for k, v in feats[name].items()}
        dims.add(f['train'].shape[1])
        metrics = fit_and_evaluate(f['train'], y['train'], f['val'], y['val'],
                                   C=C, standardize=standardize)
        results[name] = dict(metrics, backbone=info)
    report = dict(
        protocol=dict(probe_protocol(num_frames, crop_size, resize,
                                     dims.pop() if len(dims) == 1 else
                                     sorted(dims), C, standardize, pooling),
                      train_list=osp.abspath(train_list),
                      val_list=osp.abspath(val_list),
                      data_prefix=osp.abspath(data_prefix),
                      num_train=int(len(y['train'])),
                      num_val=int(len(y['val'])),
                      num_classes=int(len(np.unique(y['train'])))),
        results=results)
    out_json = out_json or osp.join(work_dir, 'linear_probe.json')
    with open(out_json, 'w') as fh:
        json.dump(report, fh, indent=2, default=str)
    report['json'] = out_json
    return report


def summary_table(report: dict) -> str:
    """Side-by-side table of top-1 and mean class accuracy (percent)."""
    rows = [f'{"backbone":<22} {"top-1 %":>8} {"mean-class %":>13}']
    for name, r in report['results'].items():
        rows.append(f'{name:<22} {100 * r["top1"]:8.2f} '
                    f'{100 * r["mean_class_acc"]:13.2f}')
    agg = report.get('random_over_seeds')
    if agg:
        t, m = agg['top1'], agg['mean_class_acc']
        rows.append(f'{"random (mean+-std)":<22} '
                    f'{100 * t["mean"]:5.2f}+-{100 * t["std"]:.2f} '
                    f'{100 * m["mean"]:8.2f}+-{100 * m["std"]:.2f}')
    return '\n'.join(rows)


def compare_with_random(checkpoint: str, train_list: str, val_list: str,
                        data_prefix: str, work_dir: str,
                        seeds: Sequence[int] = (0, ),
                        **probe_kwargs) -> dict:
    """Export a SeCo backbone, probe it and random-init baselines side by side.

    ``checkpoint`` (a SeCo checkpoint or an export) is read once; a SeCo
    checkpoint's query backbone is also written to
    ``work_dir/backbone_export.pth`` (mmaction layout), the file the report
    names as the probed backbone's source. The random baselines
    share the weights' ResNet depth, one per seed.

    Returns:
        dict: :func:`run_probe`'s report plus ``random_mean``/``random_std``
        (over seeds) and ``seco_minus_random_top1``.
    """
    from seco_mm.models.utils.checkpoint_format import (read_backbone,
                                                        write_backbone)

    os.makedirs(work_dir, exist_ok=True)
    weights = read_backbone(checkpoint)  # the only read of the file
    seco, info = build_probe_backbone(weights)
    if weights.kind == 'seco':  # the probed tensors, as a downstream file
        info['source'] = osp.join(work_dir, 'backbone_export.pth')
        write_backbone(weights, info['source'])
    depth = info['cfg']['depth']
    backbones = {'seco': (seco, info)}
    for seed in seeds:
        backbones[f'random_seed{seed}'] = build_probe_backbone(
            None, depth=depth, seed=seed)
    if not probe_kwargs.get('out_json'):
        probe_kwargs['out_json'] = osp.join(work_dir,
                                            'linear_probe_compare.json')
    report = run_probe(backbones, train_list, val_list, data_prefix, work_dir,
                       **probe_kwargs)
    rand = [report['results'][f'random_seed{s}'] for s in seeds]
    agg = {}
    for metric in ('top1', 'mean_class_acc'):
        vals = np.array([r[metric] for r in rand])
        agg[metric] = dict(mean=float(vals.mean()), std=float(vals.std()),
                           min=float(vals.min()), max=float(vals.max()))
    report['random_over_seeds'] = dict(seeds=list(seeds), **agg)
    report['seco_minus_random_top1'] = (report['results']['seco']['top1'] -
                                        agg['top1']['mean'])
    report['checkpoint'] = osp.abspath(checkpoint)
    with open(report['json'], 'w') as fh:
        json.dump({k: v for k, v in report.items() if k != 'json'}, fh,
                  indent=2, default=str)
    return report
