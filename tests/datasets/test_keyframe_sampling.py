"""Keyframe-aware SeCo sampling and the decode order of read_frames."""
import cv2
import decord
import numpy as np
import pytest

from seco_mm.datasets.transforms.seco_sample_frames import (
    SeCoSampleFrames, sample_seco_keyframe_indices)
from seco_mm.datasets.transforms.video_reader import (keyframe_indices,
                                                      read_frames)


def _draws(num_frames, keyframes, n=4000, seed=0):
    rng = np.random.RandomState(seed)
    return [sample_seco_keyframe_indices(num_frames, keyframes, rng)
            for _ in range(n)]


@pytest.mark.parametrize('num_frames,keyframes', [
    (250, [0, 30, 76, 137, 187, 242]),  # bikes.mp4's keyframes
    (48, [0, 12, 24, 36]),
    (101, [0, 50, 51, 100]),            # keyframes on both sides of N // 2
])
def test_keyframe_draws_stay_in_their_halves(num_frames, keyframes):
    half = num_frames // 2
    keys = np.array(keyframes)
    draws = _draws(num_frames, keyframes)
    for a, b, c, s in draws:
        assert b <= c
        assert {a, b, c} <= set(keyframes)
        if s == 0:
            assert a < half <= b and c < num_frames
        else:
            assert half <= a < num_frames and c < half
    orders = np.array([d[3] for d in draws])
    # s ~ Bernoulli(0.5): 4000 draws, 5 standard deviations = 158
    assert abs(orders.sum() - 2000) < 158
    # every keyframe of each half is used, as query and as key
    first, second = set(keys[keys < half]), set(keys[keys >= half])
    assert {a for a, _, _, s in draws if s == 0} == first
    assert {a for a, _, _, s in draws if s == 1} == second
    assert {x for _, b, c, s in draws if s == 0 for x in (b, c)} == second
    assert {x for _, b, c, s in draws if s == 1 for x in (b, c)} == first


def test_keyframes_are_drawn_uniformly():
    keys = [0, 12, 24, 36]
    draws = _draws(48, keys, n=8000, seed=1)
    queries = np.array([a for a, _, _, s in draws if s == 0])
    counts = np.array([(queries == k).sum() for k in (0, 12)])
    # two keyframes in the first half: each about half of the queries
    assert abs(counts[0] - counts[1]) < 5 * np.sqrt(len(queries))


def test_half_without_keyframes_falls_back_to_exact_sampling():
    num_frames, half = 40, 20
    draws = _draws(num_frames, [0, 7], n=3000, seed=2)  # none in 2nd half
    second_half_frames = set()
    for a, b, c, s in draws:
        if s == 0:
            assert a in (0, 7) and half <= b <= c < num_frames
            second_half_frames |= {b, c}
        else:
            assert half <= a < num_frames and {b, c} <= {0, 7}
            second_half_frames.add(a)
    assert second_half_frames == set(range(half, num_frames))
    # no keyframe at all (empty list): the paper's sampling everywhere
    for a, b, c, s in _draws(10, [], n=500):
        assert b <= c and (a < 5 <= b if s == 0 else c < 5 <= a)


def test_sampler_decodes_keyframes_exactly(tmp_path):
    from tests.conftest import moving_square_frames, write_video
    path = str(tmp_path / 'gop.mp4')
    write_video(path, moving_square_frames(5, num_frames=60))
    reader = decord.VideoReader(path, num_threads=1)
    all_frames = [reader.next().asnumpy() for _ in range(len(reader))]
    keys = set(int(k) for k in reader.get_key_indices())
    assert len(keys) >= 2, 'the test video needs keyframes in both halves'
    sampler = SeCoSampleFrames(keyframe_aware=True)
    assert 'keyframe_aware=True' in repr(sampler)
    np.random.seed(0)
    seen = set()
    for _ in range(12):
        out = sampler(dict(filename=path))
        a, b, c = (int(x) for x in out['frame_inds'])
        assert {a, b, c} <= keys and b <= c
        for idx, img in zip((a, b, c), out['imgs']):
            assert np.array_equal(img, all_frames[idx])
        assert 'video_reader' not in out
        seen.add(out['seco_order'])
    assert seen == {0, 1}


def test_keyframe_mode_on_frame_folders_samples_exactly(tmp_path):
    frame_dir = tmp_path / 'frames'
    frame_dir.mkdir()
    for i in range(1, 13):
        cv2.imwrite(str(frame_dir / f'img_{i:05d}.jpg'),
                    np.full((8, 8, 3), i * 20, np.uint8))
    results = dict(frame_dir=str(frame_dir), total_frames=12,
                   filename_tmpl='img_{:05}.jpg', start_index=1)
    assert keyframe_indices(dict(results)) is None
    np.random.seed(0)
    inds = set()
    for _ in range(60):
        out = SeCoSampleFrames(keyframe_aware=True)(dict(results))
        inds |= set(int(x) for x in out['frame_inds'])
    assert inds == set(range(12))


class _RecordingReader:
    """Stands in for a decord reader; records the get_batch calls."""

    def __init__(self, num_frames=50):
        self.calls = []
        self.frames = np.arange(num_frames, dtype=np.uint8)[:, None, None,
                                                           None].repeat(
                                                               3, axis=3)

    def get_batch(self, inds):
        self.calls.append(list(inds))
        frames = self.frames[inds]
        return type('Batch', (), {'asnumpy': lambda self: frames})()


def test_read_frames_decodes_each_frame_once_in_increasing_order():
    reader = _RecordingReader()
    results = dict(filename='fake.mp4', video_reader=reader)
    frames = read_frames(results, [40, 7, 7])  # s = 1: a after b == c
    assert reader.calls == [[7, 40]]  # one sorted pass, no duplicate
    assert [int(f[0, 0, 0]) for f in frames] == [40, 7, 7]
    assert 'video_reader' not in results
