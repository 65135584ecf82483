"""The paper's linear protocol: frozen frame features + a linear SVM.

SeCo (AAAI 2021, Sec. 4.2; see docs/linear_probe.md) evaluates a frozen
backbone on Kinetics-400 like this: per video, ``num_frames`` (30) uniformly
spaced frames, centre crop (224), the globally average-pooled last-stage
feature of each frame (2048-d for R50, 512-d for R18), averaged over the
frames; then an L2-regularised L2-loss (squared hinge) linear SVM with C = 1
(liblinear, one-vs-rest) is trained on the train list and scored on the val
list. That is ``pooling='mean'``; ``pooling='mean+diff'`` (see
:func:`temporal_pool`) is a second, motion-aware descriptor for data whose
classes differ in motion.

This module ties the pieces together (one job each):
``probe_data`` (videos -> samples or named failures), ``probe_features``
(batched extraction streamed to a resumable on-disk cache, pooling),
``probe_svm`` (solver choice, scaling, metrics). :func:`run_probe` probes
backbones and writes the protocol JSON; :func:`compare_with_random` adds
random-init baselines.
"""
import hashlib
import json
import os
import os.path as osp
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..utils.logging import quiet_mmengine
from .probe_data import BadVideo, build_probe_dataset, list_overlap
from .probe_features import (DONE, MEAN, POOLING_TEXT, POOLINGS, STD,
                             ExtractionSettings, FeatureCache,
                             extract_features, extract_to_caches, pool_cache,
                             temporal_pool)
from .probe_svm import (STANDARDIZE, choose_dual, fit_and_evaluate,
                        mean_class_accuracy)

__all__ = [
    'MEAN', 'STD', 'POOLINGS', 'STANDARDIZE', 'CACHE_DTYPES',
    'TrainValOverlapWarning', 'build_probe_backbone', 'build_probe_dataset',
    'extract_features', 'temporal_pool', 'mean_class_accuracy',
    'fit_and_evaluate', 'probe_protocol', 'run_probe', 'summary_table',
    'compare_with_random', 'BadVideo'
]

CACHE_DTYPES = ('auto', 'float16', 'float32')


class TrainValOverlapWarning(UserWarning):
    """The same video is in the train and the val list of the probe."""


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
        with quiet_mmengine():  # one init report line per parameter
            backbone.init_weights()
        info = dict(init=f'random (mmaction2 default init, seed {seed})',
                    seed=seed)
    info['cfg'] = dict(cfg)
    backbone.eval()  # mmaction2's ResNet.train() returns None: no chaining
    return backbone, info


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
                f'eval mode, {POOLING_TEXT[pooling]}',
        pooling=pooling,
        feature_dim=feature_dim,
        classifier='sklearn LinearSVC (liblinear): L2-regularised, L2-loss '
                   '(squared hinge), one-vs-rest; dual solver when samples '
                   '< features and the features are z-scored, else primal '
                   '(see svm_solver)',
        C=C, standardisation=standardize)


def _fingerprint(*parts) -> str:
    h = hashlib.sha1()
    for p in parts:
        if isinstance(p, str) and osp.isfile(p):
            st = os.stat(p)
            p = f'{osp.abspath(p)}:{st.st_size}:{st.st_mtime_ns}'
        h.update(repr(p).encode())
    return h.hexdigest()[:10]


def _open_cache(work_dir: str, stem: str, n: int, t: int, dtype: str,
                meta: dict) -> FeatureCache:
    """The cache ``work_dir/feature_cache/<stem>_<dtype>``. A float16 request
    with no complete float16 cache is served by a complete float32 cache of
    the same protocol (never the other way round)."""
    root = osp.join(work_dir, 'feature_cache')
    exact = FeatureCache(osp.join(root, f'{stem}_{dtype}'), n, t, dtype, meta)
    if dtype == 'float16' and not exact.complete:
        wider = osp.join(root, f'{stem}_float32')
        if osp.isdir(wider):
            cache = FeatureCache(wider, n, t, 'float32', meta)
            if cache.complete:
                return cache
    return exact


def _bad_summary(split: str, bad: Sequence[dict], total: int) -> str:
    head = '; '.join(f'{b["path"]}: {b["reason"]}' for b in bad[:3])
    more = f' (+{len(bad) - 3} more)' if len(bad) > 3 else ''
    return (f'{split}: {len(bad)} of {total} videos could not be read and '
            f'were skipped: {head}{more}')


def run_probe(backbones: Dict[str, Tuple[nn.Module, dict]],
              train_list: str, val_list: str, data_prefix: str, work_dir: str,
              num_frames: int = 30, crop_size: int = 224,
              resize: Optional[int] = None, C: float = 1.0,
              standardize: str = 'none', pooling: str = 'mean',
              videos_per_batch: int = 4, num_workers: int = 0,
              out_json: Optional[str] = None, device: str = 'cpu',
              amp: bool = False, channels_last: bool = False,
              on_bad_video: str = 'skip', cache_dtype: str = 'auto',
              progress: bool = True,
              svm_dual: Optional[bool] = None) -> dict:
    """Probe one or more backbones; features cached on disk; write JSON.

    Per-frame features (N, T, C) are cached per backbone and split in
    ``work_dir/feature_cache/`` (:class:`FeatureCache`), filled batch by
    batch, so a killed run resumes and probing the same backbones with
    another ``pooling`` decodes nothing. ``cache_dtype='auto'`` stores
    float16 for ``pooling='mean'`` (the frame average is computed in float32
    from values rounded to 11 significant bits: relative error <= 2^-11,
    far below the SVM's sensitivity) and float32 for ``'mean+diff'``
    (differences of close frames would lose most of their bits in float16).

    Videos that cannot be read are skipped and listed (``on_bad_video=
    'skip'``) or stop the run naming the file (``'stop'``); a video listed
    in both splits raises :class:`TrainValOverlapWarning`.

    Args:
        backbones: ``{name: (module, info)}`` from :func:`build_probe_backbone`.
        device / amp / channels_last / videos_per_batch / num_workers: see
            :class:`ExtractionSettings`.
        svm_dual: None picks the liblinear solver by shape.

    Returns:
        dict: ``{'protocol': ..., 'results': {name: metrics + backbone},
        'bad_videos': {split: [...]}, 'json': path}``.
    """
    from mmengine import dump
    from mmengine.logging import print_log

    if pooling not in POOLINGS:
        raise ValueError(f'pooling must be one of {POOLINGS}, got '
                         f'{pooling!r}')
    if cache_dtype not in CACHE_DTYPES:
        raise ValueError(f'cache_dtype must be one of {CACHE_DTYPES}, got '
                         f'{cache_dtype!r}')
    if cache_dtype == 'auto':
        cache_dtype = 'float16' if pooling == 'mean' else 'float32'
    settings = ExtractionSettings(device, amp, channels_last,
                                  videos_per_batch, num_workers, on_bad_video,
                                  progress)
    os.makedirs(work_dir, exist_ok=True)
    data_cfg = (data_prefix, num_frames, crop_size, resize)
    datasets = {split: build_probe_dataset(lst, data_prefix, num_frames,
                                           crop_size, resize)
                for split, lst in (('train', train_list), ('val', val_list))}
    overlap = list_overlap(datasets['train'], datasets['val'])
    if overlap:
        msg = (f'{len(overlap)} video(s) are in both {train_list} and '
               f'{val_list} (e.g. {overlap[0]}): val accuracy is inflated')
        warnings.warn(msg, TrainValOverlapWarning)
        print_log(msg, logger='current', level=30)

    feats, y, bad_videos, counts = {n: {} for n in backbones}, {}, {}, {}
    stored = set()  # dtypes of the caches actually read
    for split, list_file in (('train', train_list), ('val', val_list)):
        dataset = datasets[split]
        n = len(dataset)
        labels = dataset.labels()
        caches = {}
        for name, (module, info) in backbones.items():
            key = _fingerprint(info.get('source'),
                               json.dumps(info, sort_keys=True, default=str),
                               list_file, *data_cfg, settings.numerics())
            caches[name] = _open_cache(
                work_dir, f'{name}_{split}_{key}', n, num_frames, cache_dtype,
                dict(backbone=name, split=split, list=osp.abspath(list_file),
                     protocol=data_cfg, **settings.numerics()))
        todo = {name: len(c.todo) for name, c in caches.items() if len(c.todo)}
        if todo:
            print(f'[linear probe] {split}: {n} videos x {num_frames} frames; '
                  f'to extract {todo}')
            extract_to_caches({k: backbones[k][0] for k in todo},
                              {k: caches[k] for k in todo}, dataset, settings)
        else:
            print(f'[linear probe] {split}: cached features in {work_dir}')
        ok = np.logical_and.reduce([c.state == DONE for c in caches.values()])
        bad = {}
        for c in caches.values():
            bad.update({b['index']: b for b in c.bad})
        bad_videos[split] = [bad[i] for i in sorted(bad)]
        if bad_videos[split]:
            print_log(_bad_summary(split, bad_videos[split], n),
                      logger='current', level=30)
        rows = np.flatnonzero(ok)
        if not len(rows):
            raise ValueError(
                f'{split} ({list_file}): none of the {n} videos could be '
                f'read; ' + _bad_summary(split, bad_videos[split], n))
        y[split] = labels[rows]
        counts[split] = dict(listed=n, scored=int(len(rows)),
                             bad=len(bad_videos[split]))
        for name, c in caches.items():
            feats[name][split] = pool_cache(c, pooling, rows=rows)[1]
            stored.add(c.dtype.name)

    results, dims, solver = {}, set(), None
    for name, (_, info) in backbones.items():
        f = feats[name]
        dims.add(f['train'].shape[1])
        metrics = fit_and_evaluate(f['train'], y['train'], f['val'], y['val'],
                                   C=C, standardize=standardize,
                                   dual=svm_dual)
        solver = solver or metrics['solver']
        results[name] = dict(metrics, backbone=info)
    dual, reason = ((solver['dual'], solver['reason']) if solver else
                    choose_dual(len(y['train']), dims.copy().pop()))
    report = dict(
        protocol=dict(probe_protocol(num_frames, crop_size, resize,
                                     dims.pop() if len(dims) == 1 else
                                     sorted(dims), C, standardize, pooling),
                      svm_solver=dict(dual=dual, reason=reason),
                      train_list=osp.abspath(train_list),
                      val_list=osp.abspath(val_list),
                      data_prefix=osp.abspath(data_prefix),
                      num_train=counts['train']['scored'],
                      num_val=counts['val']['scored'],
                      num_train_listed=counts['train']['listed'],
                      num_val_listed=counts['val']['listed'],
                      bad_videos_skipped={s: c['bad']
                                          for s, c in counts.items()},
                      train_val_overlap=dict(count=len(overlap),
                                             videos=overlap[:20]),
                      num_classes=int(len(np.unique(y['train']))),
                      extraction=dict(settings.describe(),
                                      cache_dtype=cache_dtype,
                                      features_read_as=sorted(stored))),
        results=results, bad_videos=bad_videos)
    out_json = out_json or osp.join(work_dir, 'linear_probe.json')
    dump(report, out_json, file_format='json', indent=2)
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
    p = report.get('protocol', {})
    skipped = p.get('bad_videos_skipped', {})
    if any(skipped.values()):
        rows.append(f'videos scored: train {p["num_train"]}/'
                    f'{p["num_train_listed"]}, val {p["num_val"]}/'
                    f'{p["num_val_listed"]} (unreadable ones skipped, listed '
                    f'in the JSON)')
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
