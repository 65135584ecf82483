"""The paper's linear protocol: features, SVM, caching, CLI, compare-random."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from seco_mm.evaluation.feature_svm import (MEAN, STD, build_probe_backbone,
                                            build_probe_dataset,
                                            compare_with_random,
                                            extract_features,
                                            fit_and_evaluate,
                                            mean_class_accuracy, run_probe,
                                            temporal_pool)
from tests.conftest import load_tool


def test_mean_class_accuracy_by_hand():
    label = np.array([0, 0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 0, 1, 0, 1, 2])
    # per class recall: 3/4, 1/2, 1/1
    assert mean_class_accuracy(pred, label) == pytest.approx((0.75 + 0.5 + 1)
                                                             / 3)


def test_svm_separable_blobs():
    rng = np.random.RandomState(0)
    centres = np.eye(4, 16) * 10
    y_tr, y_va = np.repeat(np.arange(4), 20), np.repeat(np.arange(4), [5, 6,
                                                                     7, 8])
    x_tr = centres[y_tr] + rng.randn(len(y_tr), 16)
    x_va = centres[y_va] + rng.randn(len(y_va), 16)
    for mode in ('none', 'zscore', 'l2'):
        r = fit_and_evaluate(x_tr, y_tr, x_va, y_va, standardize=mode)
        assert r['top1'] == 1.0 and r['mean_class_acc'] == 1.0
        assert r['train_top1'] == 1.0


def test_svm_counts_errors_exactly():
    """Val points planted deep in the wrong class give known accuracies."""
    rng = np.random.RandomState(1)
    centres = np.array([[10., 0.], [-10., 0.]])
    y_tr = np.repeat([0, 1], 30)
    x_tr = centres[y_tr] + rng.randn(60, 2)
    y_va = np.array([0] * 8 + [1] * 2)
    x_va = centres[y_va].copy()
    x_va[:3] = centres[1]  # 3 of class 0 sit on class 1's centre
    r = fit_and_evaluate(x_tr, y_tr, x_va, y_va)
    assert r['top1'] == pytest.approx(0.7)
    assert r['mean_class_acc'] == pytest.approx((5 / 8 + 1) / 2)
    with pytest.raises(ValueError, match='standardize'):
        fit_and_evaluate(x_tr, y_tr, x_va, y_va, standardize='minmax')


def test_features_match_manual_computation(tiny_videos):
    """Features = the pooled backbone output of each uniformly spaced
    centre-cropped frame, recomputed here with decord + numpy."""
    import decord
    train_list, _, root = tiny_videos
    backbone, info = build_probe_backbone(None, depth=18, seed=3)
    dataset = build_probe_dataset(train_list, root, num_frames=3,
                                  crop_size=48)
    feats, labels = extract_features({'r': backbone}, dataset,
                                     videos_per_batch=2)
    assert feats['r'].shape == (len(dataset), 3, 512) and labels[0] == 0
    rel = open(train_list).readline().split()[0]
    vr = decord.VideoReader(osp.join(root, rel))
    n = len(vr)
    inds = [int(n / 3 * i + n / 6) for i in range(3)]  # segment centres
    frames = vr.get_batch(inds).asnumpy().astype(np.float32)  # (3, H, W, 3)
    h, w = frames.shape[1:3]
    top, left = (h - 48) // 2, (w - 48) // 2
    x = (frames[:, top:top + 48, left:left + 48] - MEAN) / STD
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        ref = backbone(x).mean(dim=(2, 3)).numpy()  # (3, 512)
    np.testing.assert_allclose(feats['r'][0], ref, rtol=1e-4, atol=1e-5)
    assert info['cfg'] == dict(type='ResNet', depth=18)


@pytest.mark.parametrize('line,error', [
    ('class0/train_0.mp4', 'expected'),
    ('class0/train_0.mp4 zero', 'expected'),
    ('class0/nope.mp4 0', 'not found'),
    ('class0/train_0.mp4 0 1', 'expected'),
    ('class0/train_0.mp4 -1', 'negative label.*expected'),
])
def test_bad_list_names_line(tiny_videos, tmp_path, line, error):
    root = tiny_videos[2]
    path = tmp_path / 'list.txt'
    path.write_text(f'class0/train_1.mp4 0\n{line}\n')
    with pytest.raises((ValueError, FileNotFoundError),
                       match=f'list.txt:2: .*{error}'):
        build_probe_dataset(str(path), root, num_frames=2, crop_size=32)


def test_list_with_byte_order_mark_is_read_once_without_it(tiny_videos,
                                                           tmp_path):
    root = tiny_videos[2]
    path = tmp_path / 'bom.txt'
    path.write_bytes(b'\xef\xbb\xbfclass0/train_1.mp4 0\r\n'
                     b'class0/train_0.mp4 1\r\n')
    ds = build_probe_dataset(str(path), root, num_frames=2, crop_size=32)
    assert [ds.path(i) for i in range(len(ds))] == [
        f'{root}/class0/train_1.mp4', f'{root}/class0/train_0.mp4']
    assert ds.labels().tolist() == [0, 1]
    idx, sample = ds[0]  # the first video decodes (its path has no BOM)
    assert idx == 0 and tuple(sample['inputs'].shape) == (2, 3, 32, 32)
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        build_probe_dataset(str(tmp_path / 'missing.txt'), root,
                            num_frames=2, crop_size=32)


def test_backbone_from_checkpoint_and_errors(fake_seco_ckpt, tmp_path):
    src, query, key = fake_seco_ckpt
    m, info = build_probe_backbone(src)
    assert not m.training and info['encoder'] == 'query'
    for k, v in query.state_dict().items():
        assert torch.equal(m.state_dict()[k], v)
    m, _ = build_probe_backbone(src, key_encoder=True)
    assert torch.equal(m.conv1.conv.weight, key.conv1.conv.weight)
    with pytest.raises(ValueError, match='ResNet-18'):
        build_probe_backbone(src, depth=50)
    with pytest.raises(ValueError, match='depth'):
        build_probe_backbone(None)


def test_run_probe_writes_json_and_caches(fake_seco_ckpt, tiny_videos,
                                          tmp_path):
    train_list, val_list, root = tiny_videos
    backbones = {'seco': build_probe_backbone(fake_seco_ckpt[0])}
    kw = dict(num_frames=2, crop_size=32, C=1.0)
    report = run_probe(backbones, train_list, val_list, root, str(tmp_path),
                       **kw)
    saved = json.load(open(report['json']))
    p = saved['protocol']
    assert p['frames_per_video'] == 2 and p['feature_dim'] == 512
    assert p['C'] == 1.0 and p['standardisation'] == 'none'
    assert p['crop'] == 'centre 32x32'
    assert (p['num_train'], p['num_val'], p['num_classes']) == (18, 12, 3)
    r = saved['results']['seco']
    assert 0 <= r['top1'] <= 1 and 0 <= r['mean_class_acc'] <= 1
    cached = _cache_files(tmp_path)
    assert len(cached) == 2  # train and val, float16 for 'mean' pooling
    train_feats = np.load(next(f for f in cached if '_train_' in f))
    assert train_feats.shape == (18, 2, 512)
    assert train_feats.dtype == np.float16
    mtimes = {f: os.stat(f).st_mtime_ns for f in cached}
    again = run_probe(backbones, train_list, val_list, root, str(tmp_path),
                      **kw)
    assert {f: os.stat(f).st_mtime_ns for f in cached} == mtimes  # cache
    assert again['results']['seco']['top1'] == r['top1']
    # another protocol is another cache entry
    run_probe(backbones, train_list, val_list, root, str(tmp_path),
              num_frames=3, crop_size=32)
    assert len(_cache_files(tmp_path)) == 4
    # float32 features (what 'mean+diff' needs) serve every pooling
    kw32 = dict(kw, cache_dtype='float32')
    run_probe(backbones, train_list, val_list, root, str(tmp_path),
              pooling='mean+diff', **kw32)
    cached32 = sorted(set(_cache_files(tmp_path)) - set(cached))
    cached32 = [f for f in cached32 if '_float32' in f]
    assert len(cached32) == 2
    mtimes32 = {f: os.stat(f).st_mtime_ns for f in cached32}
    # another pooling reuses the cached frame features: same files, new dim
    diff = run_probe(backbones, train_list, val_list, root, str(tmp_path),
                     pooling='mean+diff', **kw)
    assert {f: os.stat(f).st_mtime_ns for f in cached32} == mtimes32
    assert diff['protocol']['feature_dim'] == 1024
    assert diff['protocol']['pooling'] == 'mean+diff'
    assert diff['protocol']['extraction']['cache_dtype'] == 'float32'
    mean32 = run_probe(backbones, train_list, val_list, root, str(tmp_path),
                       **kw32)
    assert {f: os.stat(f).st_mtime_ns for f in cached32} == mtimes32
    assert mean32['protocol']['extraction']['features_read_as'] == [
        'float32']
    # float16 storage does not change the paper-protocol result here
    assert mean32['results']['seco']['top1'] == r['top1']
    with pytest.raises(ValueError, match='pooling'):
        run_probe(backbones, train_list, val_list, root, str(tmp_path),
                  pooling='max', **kw)


def _cache_files(work_dir):
    """The frame-feature files of every cache entry under work_dir."""
    root = osp.join(work_dir, 'feature_cache')
    return sorted(osp.join(root, d, 'frame_feats.npy')
                  for d in os.listdir(root)
                  if osp.isfile(osp.join(root, d, 'frame_feats.npy')))


def test_temporal_pool_matches_numpy_loops():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)  # (N, T, C)
    np.testing.assert_allclose(temporal_pool(x, 'mean'), x.mean(1),
                               rtol=1e-6)
    out = temporal_pool(x, 'mean+diff')
    assert out.shape == (4, 6)
    for n in range(4):
        change = sum(abs(x[n, t + 1] - x[n, t]) for t in range(4)) / 4
        np.testing.assert_allclose(out[n, :3], x[n].mean(0), rtol=1e-5)
        np.testing.assert_allclose(out[n, 3:], change, rtol=1e-5)
    # a static video has zero change; a video whose frames differ does not
    static = np.repeat(x[:, :1], 5, axis=1)
    assert np.all(temporal_pool(static, 'mean+diff')[:, 3:] == 0)
    assert np.all(out[:, 3:] > 0)
    with pytest.raises(ValueError, match='2 frames'):
        temporal_pool(x[:, :1], 'mean+diff')
    with pytest.raises(ValueError, match=r'\(N, T, C\)'):
        temporal_pool(x[0], 'mean')


def test_compare_with_random(fake_seco_ckpt, tiny_videos, tmp_path):
    train_list, val_list, root = tiny_videos
    report = compare_with_random(fake_seco_ckpt[0], train_list, val_list,
                                 root, str(tmp_path), seeds=(0, 1),
                                 num_frames=2, crop_size=32)
    assert osp.isfile(tmp_path / 'backbone_export.pth')  # the export path
    saved = json.load(open(tmp_path / 'linear_probe_compare.json'))
    assert set(saved['results']) == {'seco', 'random_seed0', 'random_seed1'}
    assert saved['results']['seco']['backbone']['source'] == \
        str(tmp_path / 'backbone_export.pth')
    tops = [saved['results'][f'random_seed{s}']['top1'] for s in (0, 1)]
    assert saved['random_over_seeds']['top1']['mean'] == \
        pytest.approx(np.mean(tops))
    assert report['seco_minus_random_top1'] == pytest.approx(
        saved['results']['seco']['top1'] - np.mean(tops))
    # different seeds give different random backbones (features differ)
    feats = [f for f in _cache_files(tmp_path)
             if '/random_seed' in f and '_train_' in f]
    a, b = (np.load(f) for f in feats)
    assert not np.allclose(a, b)


def test_cli(tiny_videos, tmp_path, capsys):
    train_list, val_list, root = tiny_videos
    tool = load_tool('linear_probe')
    args = ['--train-list', train_list, '--val-list', val_list,
            '--data-prefix', root, '--work-dir', str(tmp_path),
            '--num-frames', '2', '--crop-size', '32']
    assert tool.main(['--random-init', '--depth', '18', *args]) == 0
    out = capsys.readouterr().out
    assert 'top-1' in out and 'random' in out
    assert osp.isfile(tmp_path / 'linear_probe.json')
    bad = tmp_path / 'bad.pth'
    bad.write_text('nope')
    assert tool.main(['--checkpoint', str(bad), *args]) == 2
    assert 'cannot be read by torch.load' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(['--random-init', *args])  # needs --depth
