"""Smoke tests of the benchmark scripts at tiny sizes (no timing assertions).

They check that each script runs, measures every variant it promises,
writes its JSON and tables, and that the yardsticks are right (the bare
PyTorch step does the model's math; the decoding bound decodes the right
frames; the queue stays one fixed buffer).
"""
import json

import cv2
import decord
import numpy as np
import pytest
import torch

import common  # benchmarks/ is on pytest's pythonpath (pytest.ini)


@pytest.fixture(autouse=True)
def _restore_opencv_threads():
    """The data scripts set OpenCV's threads as a loader worker has them;
    torch's threads and mmengine's log levels are restored by
    tests/conftest.py."""
    cv_threads = cv2.getNumThreads()
    yield
    cv2.setNumThreads(cv_threads)


@pytest.fixture(scope='module')
def gop_video(tmp_path_factory):
    """A 60-frame 64x64 mp4v clip (keyframes every 12 frames)."""
    from tests.conftest import moving_square_frames, write_video
    path = str(tmp_path_factory.mktemp('bench') / 'gop.mp4')
    write_video(path, moving_square_frames(3, num_frames=60))
    return path


def test_interleave_rotates_and_pairs_ratios():
    calls = []
    timings = common.interleave(
        dict(a=lambda r: calls.append(('a', r)),
             b=lambda r: calls.append(('b', r))), rounds=4, warmup=1)
    assert [c[0] for c in calls[2:]] == ['a', 'b', 'b', 'a', 'a', 'b',
                                         'b', 'a']
    assert calls[0][1] < 0 and calls[1][1] < 0  # warm-up rounds
    assert all(len(t.wall) == 4 and len(t.cpu) == 4 for t in timings.values())
    st = common.stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert st['median'] == 3.0 and st['q25'] == 2.0 and st['q75'] == 4.0
    assert common.ratio_stats([2, 4, 6], [1, 2, 3])['median'] == 2.0
    table = common.markdown_table(['x', 'y'], [[1, 2]])
    assert table.splitlines() == ['| x | y |', '|---|---|', '| 1 | 2 |']


def test_decoding_bound_counts_and_decodes_the_right_frames(gop_video):
    from bench_data import codec_frames, decode_bound
    reader = decord.VideoReader(gop_video, num_threads=1)
    keys = [int(k) for k in reader.get_key_indices()]
    assert keys[:3] == [0, 12, 24]
    frames = [reader.next().asnumpy() for _ in range(len(reader))]
    # one pass per GOP: frames 0..5 and 24..29 (b == c decoded once)
    assert codec_frames([5, 29, 29], keys) == 6 + 6
    assert codec_frames([24, 24, 36], keys) == 1 + 1
    for inds in ([5, 29, 29], [50, 3, 7], [59, 0, 11]):
        got = decode_bound(gop_video, inds, keys)
        for i, img in zip(inds, got):
            assert np.array_equal(img, frames[i])


def test_bench_data_runs_every_variant(gop_video, tmp_path):
    import bench_data
    out = tmp_path / 'data.json'
    res = bench_data.main(['--clips', gop_video, '--rounds', '1',
                           '--crop', '32', '--json-out', str(out)])
    clip = res['clips']['gop.mp4']
    assert set(clip['variants']) == set(bench_data.VARIANTS) | {
        'pipeline_exact', 'pipeline_keyframe'}
    for v in clip['variants'].values():
        assert v['cpu']['median'] > 0 and v['wall']['median'] > 0
    assert clip['info']['keys_first_half'] == 3  # 0, 12, 24 < 30
    assert clip['codec_frames']['keyframe'] <= 3.0
    assert clip['codec_frames']['exact'] > clip['codec_frames']['keyframe']
    saved = json.loads(out.read_text())
    assert 'cores per V100' in saved['markdown']


def test_bench_augment_keeps_the_jitter_distribution(tmp_path):
    import bench_augment
    res = bench_augment.main(['--rounds', '2', '--crop', '48',
                              '--json-out', str(tmp_path / 'a.json')])
    eq = res['equivalence']
    assert eq['max_abs_diff'] <= 1 and eq['frac_differing'] < 0.01
    assert set(res['variants']) == {'jitter_reference', 'jitter_current',
                                    'multiview_reference',
                                    'multiview_current'}


@pytest.mark.parametrize('preset', ['r18_112', 'r18_demo'])
def test_bare_step_matches_the_plugin_step(preset):
    """One SGD step + EMA + enqueue: bare PyTorch == SeCo + OptimWrapper
    (r18_demo has BatchNorm in the projectors)."""
    from seco_bare import BareSeCo
    from train_utils import (build_model, make_batch, make_optim_wrapper,
                             mmengine_step, model_cfg)
    cfg = model_cfg(preset, queue_len=64)
    batch = make_batch(2, 32, real=False)
    model = build_model(cfg)
    bare = BareSeCo(model, lr=cfg['optim']['lr'], momentum=0.9,
                    weight_decay=cfg['optim']['weight_decay'])
    optim = make_optim_wrapper(model, cfg['optim'])
    ref = mmengine_step(model, optim, batch, 0.9)
    got = bare.step(batch, 0.9)
    for k in ('loss_inter', 'loss_intra', 'loss_order'):
        assert abs(float(ref[k]) - float(got[k])) < 1e-4
    torch.testing.assert_close(bare.query.backbone.conv1.conv.weight,
                               model.backbone.conv1.conv.weight,
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        bare.key.backbone.layer1[0].conv1.conv.weight,
        model.momentum_encoder.module[0].layer1[0].conv1.conv.weight,
        rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(bare.queue, model.queue, rtol=1e-4,
                               atol=1e-5)
    assert bare.ptr == int(model.queue_ptr) == 6


@pytest.mark.slow  # the Runner loop and memory probe processes
def test_bench_train_step_smoke(tmp_path):
    import bench_train_step
    res = bench_train_step.main([
        '--presets', 'r18_112', '--batch', '2', '--crop', '32', '--rounds',
        '1', '--warmup', '1', '--queue-len', '64', '--options', 'batched',
        'per_view', 'channels_last', 'queue_copy', '--probe-variants',
        '--threads', '1',
        '--work-dir', str(tmp_path / 'runner'), '--json-out',
        str(tmp_path / 't.json')])
    r = res['presets']['r18_112']
    assert max(r['parity'].values()) < 1e-3
    assert set(r['overhead']['variants']) == {'runner', 'mmengine', 'bare'}
    for v in r['overhead']['variants'].values():
        assert v['wall']['n'] == 1 and v['wall']['median'] > 0
    assert set(r['options']['variants']) == {'batched', 'per_view',
                                             'channels_last', 'queue_copy'}
    assert 'Plugin overhead' in res['markdown']


def test_queue_copy_variant_takes_the_copying_path():
    """'queue_copy' (mmengine's generic train_step) hands the loss a copy of
    the queue; SeCo's own train_step hands it the queue itself."""
    from train_utils import (build_model, make_batch, make_optim_wrapper,
                             mmengine_step, model_cfg)
    cfg = model_cfg('r18_112', queue_len=64)
    seen = {}
    for generic in (False, True):
        model = build_model(cfg)
        loss = model.inter_head.loss

        def spy(q, k, queue, _loss=loss, _model=model, _g=generic):
            seen[_g] = queue.data_ptr() == _model.queue.data_ptr()
            return _loss(q, k, queue)

        model.inter_head.loss = spy
        mmengine_step(model, make_optim_wrapper(model, cfg['optim']),
                      make_batch(2, 32), cfg['momentum'], generic=generic)
        assert int(model.queue_ptr) == 6  # both enqueue 3 views x 2
    assert seen == {False: True, True: False}


def test_memory_probe_reports_rss():
    import bench_train_step
    out = bench_train_step.probe('r18_112', 'mmengine', 2, 64, crop=32,
                                 steps=1)
    assert out['peak_rss_mib'] > out['peak_over_start_mib'] > 0


def test_queue_stays_one_fixed_buffer():
    import bench_scaling
    args = bench_scaling.parse_args(['--queue-iters', '3', '--queue-batch',
                                     '2', '--queue-crop', '32'])
    out = bench_scaling.queue_probe(256, args)
    assert out['queue_bytes'] == 256 * 128 * 4
    assert out['state_dict_queue_bytes'] == out['queue_bytes']
    assert out['same_storage']
    assert out['queue_ptr'] == [0, 6, 12, 18]  # 3 keys x batch 2 per step
    assert len(out['rss_mib']) == 4


@pytest.mark.slow
def test_ddp_two_processes_run(tmp_path):
    import bench_scaling
    args = bench_scaling.parse_args(['--total-batch', '4', '--crop', '32',
                                     '--iters', '1', '--warmup', '1',
                                     '--queue-len', '64'])
    res = bench_scaling.launch('2x1', args)
    assert res['world'] == 2 and len(res['times']) == 1


@pytest.mark.slow  # DataLoader worker processes
def test_bench_dataloader_smoke(gop_video, tmp_path):
    import bench_dataloader
    res = bench_dataloader.main([
        '--clips', gop_video, '--samples', '4', '--batch-size', '2',
        '--epochs', '1', '--repeats', '1', '--max-workers', '1', '--crop',
        '32', '--json-out', str(tmp_path / 'dl.json')])
    assert len(res['settings']) == 4
    assert all(v['samples_per_s']['median'] > 0
               for v in res['settings'].values())
    assert res['best'] in res['settings']


def test_bench_tracking_smoke(tmp_path):
    import bench_tracking
    seq = tmp_path / 'otb' / 'Square' / 'img'
    seq.mkdir(parents=True)
    boxes = []
    for i in range(4):
        img = np.full((128, 128, 3), 90, np.uint8)
        cv2.rectangle(img, (30 + 3 * i, 40), (60 + 3 * i, 70), (250, 40, 40),
                      -1)
        cv2.imwrite(str(seq / f'{i + 1:04d}.jpg'), img)
        boxes.append(f'{31 + 3 * i},41,30,30')
    (tmp_path / 'otb' / 'Square' / 'groundtruth_rect.txt').write_text(
        '\n'.join(boxes) + '\n')
    res = bench_tracking.main(['--data', str(tmp_path / 'otb'), '--repeats',
                               '1', '--max-frames', '4', '--json-out',
                               str(tmp_path / 'tr.json')])
    tr = res['trackers']['siamfc_r18_demo']
    assert tr['track_fps']['median'] > 0 and tr['ope_fps']['median'] > 0
    assert res['sequences'] == ['Square']


@pytest.mark.slow  # runs a benchmark script as a process
def test_run_all_writes_the_summary(tmp_path):
    import run_all
    cmd = run_all.command('train_step', False, 'cuda', '/x.json')
    assert cmd[-4:] == ['--device', 'cuda', '--json-out', '/x.json']
    assert '--device' not in run_all.command('data', False, 'cuda', '/x')
    md = tmp_path / 'results.md'
    rc = run_all.main(['--quick', '--only', 'augment', '--out-dir',
                       str(tmp_path), '--results', str(md)])
    assert rc == 0
    text = md.read_text()
    assert '## augment' in text and 'bench_augment.py' in text
    assert '| jitter_current |' in text
