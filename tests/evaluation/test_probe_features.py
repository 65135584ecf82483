"""Probe feature extraction: on-disk cache, pooling, amp / channels-last."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from seco_mm.evaluation.feature_svm import (build_probe_backbone,
                                            build_probe_dataset, run_probe)
from seco_mm.evaluation.probe_data import BadVideo
from seco_mm.evaluation.probe_features import (ExtractionSettings,
                                               FeatureCache, amp_dtype,
                                               extract_features, pool_cache,
                                               temporal_pool)
from tests.downstream.conftest import make_video_set


@pytest.fixture(scope='module')
def tiny_videos(tmp_path_factory):
    return make_video_set(str(tmp_path_factory.mktemp('videos')))


def test_cache_writes_rows_in_any_order_and_reopens(tmp_path):
    rng = np.random.RandomState(0)
    feats = rng.rand(5, 3, 8).astype(np.float32) * 10
    folder = str(tmp_path / 'c')
    cache = FeatureCache(folder, 5, 3, 'float32', meta=dict(split='train'))
    assert cache.dim is None and list(cache.todo) == [0, 1, 2, 3, 4]
    cache.write([3, 1], feats[[3, 1]])
    cache.mark_bad(BadVideo(4, '/x/broken.mp4', 'no video stream'))
    again = FeatureCache(folder, 5, 3, 'float32')  # a new process, say
    assert list(again.todo) == [0, 2] and not again.complete
    assert again.bad == [dict(index=4, path='/x/broken.mp4',
                              reason='no video stream')]
    again.write([0, 2], feats[[0, 2]])
    assert again.complete
    on_disk = np.load(osp.join(folder, 'frame_feats.npy'), mmap_mode='r')
    np.testing.assert_array_equal(on_disk[:4], feats[:4])
    rows, pooled = pool_cache(again, 'mean', chunk=2)  # chunked reads
    assert rows.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(pooled, feats[:4].mean(1), rtol=1e-6)
    meta = json.load(open(osp.join(folder, 'meta.json')))
    assert meta['shape'] == [5, 3, 8] and meta['split'] == 'train'
    with pytest.raises(ValueError, match='do not match this run'):
        FeatureCache(folder, 6, 3, 'float32')
    with pytest.raises(ValueError, match='dim 8, backbone gives 9'):
        again.ensure(9)


def test_float16_cache_error_bound(tmp_path):
    """float16 storage: each value within 2^-11 relative, so the frame mean
    (computed in float32) is within 2^-11 of the float32 one."""
    rng = np.random.RandomState(1)
    feats = (rng.rand(4, 30, 64) * 20).astype(np.float32)  # ReLU-like
    cache = FeatureCache(str(tmp_path / 'h'), 4, 30, 'float16')
    cache.write(range(4), feats)
    _, pooled = pool_cache(cache, 'mean')
    ref = feats.mean(1)
    assert np.max(np.abs(pooled - ref) / ref) <= 2 ** -11


def test_bad_videos_before_the_first_good_one_are_kept(tmp_path):
    cache = FeatureCache(str(tmp_path / 'b'), 3, 2, 'float32')
    cache.mark_bad(BadVideo(0, 'a.gif', 'broken'))
    cache.write([1, 2], np.ones((2, 2, 4), np.float32))
    again = FeatureCache(str(tmp_path / 'b'), 3, 2, 'float32')
    assert again.complete and again.bad[0]['path'] == 'a.gif'
    assert pool_cache(again)[0].tolist() == [1, 2]


def test_amp_dtype_per_device():
    assert amp_dtype(torch.device('cpu'), True) == torch.bfloat16
    assert amp_dtype(torch.device('cuda'), True) == torch.float16
    assert amp_dtype(torch.device('cpu'), False) is None
    with pytest.raises(ValueError, match='on_bad_video'):
        ExtractionSettings(on_bad_video='ignore')


def test_amp_and_channels_last_features_close_to_fp32(tiny_videos):
    train_list, _, root = tiny_videos
    net, _ = build_probe_backbone(None, depth=18, seed=0)
    ds = build_probe_dataset(train_list, root, num_frames=2, crop_size=32)
    ref, labels = extract_features({'r': net}, ds, videos_per_batch=3)
    cl, _ = extract_features({'r': net}, ds, settings=ExtractionSettings(
        channels_last=True, videos_per_batch=5, on_bad_video='stop'))
    np.testing.assert_allclose(cl['r'], ref['r'], rtol=1e-4, atol=1e-4)
    bf, _ = extract_features({'r': net}, ds, settings=ExtractionSettings(
        amp=True, channels_last=True, videos_per_batch=4,
        on_bad_video='stop'))
    rel = np.abs(bf['r'] - ref['r']).mean() / np.abs(ref['r']).mean()
    assert 0 < rel < 0.02  # bf16 really ran, and stays close
    assert len(labels) == ref['r'].shape[0] == 18
    # the pooled video features of amp and fp32 classify alike
    a, b = temporal_pool(bf['r']), temporal_pool(ref['r'])
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b,
                                                                      axis=1)
    assert cos.min() > 0.999


@pytest.mark.slow  # DataLoader worker processes
def test_workers_and_amp_recorded_and_cached_apart(tiny_videos, tmp_path):
    train_list, val_list, root = tiny_videos
    backbones = {'r': build_probe_backbone(None, depth=18, seed=0)}
    kw = dict(num_frames=2, crop_size=32, videos_per_batch=5)
    fp32 = run_probe(backbones, train_list, val_list, root, str(tmp_path),
                     num_workers=2, **kw)
    amp = run_probe(backbones, train_list, val_list, root, str(tmp_path),
                    amp=True, channels_last=True, **kw)
    ext = amp['protocol']['extraction']
    assert ext['amp'] == 'bfloat16' and ext['channels_last'] is True
    assert fp32['protocol']['extraction']['num_workers'] == 2
    assert fp32['protocol']['extraction']['amp'] == 'off'
    caches = sorted((tmp_path / 'feature_cache').iterdir())
    assert len(caches) == 4  # amp features never mix with fp32 ones
    # 18 videos < 512 dims, but raw features: primal (see choose_dual)
    assert fp32['protocol']['svm_solver']['dual'] is False
