"""SeCo frame sampling: invariants over many draws, and exact decoding."""
import os.path as osp

import cv2
import decord
import numpy as np
import pytest

from seco_mm.datasets.transforms import (SeCoSampleFrames, VideoReadError,
                                         sample_seco_indices)


@pytest.mark.parametrize('num_frames', [3, 4, 7, 48, 301])
def test_triplets_come_from_the_right_halves(num_frames):
    rng = np.random.RandomState(num_frames)
    half = num_frames // 2
    draws = [sample_seco_indices(num_frames, rng) for _ in range(4000)]
    orders = np.array([d[3] for d in draws])
    for a, b, c, s in draws:
        assert b <= c
        if s == 0:
            assert 0 <= a < half and half <= b and c < num_frames
        else:
            assert half <= a < num_frames and 0 <= b and c < half
    # s ~ Bernoulli(0.5): 4000 draws, 5 standard deviations = 158
    assert abs(orders.sum() - 2000) < 158
    # every frame of the key half is reachable
    keys_first = {x for a, b, c, s in draws if s == 1 for x in (b, c)}
    assert keys_first == set(range(half))


def test_sampler_decodes_exactly_the_chosen_frames(tiny_video_dir):
    path = str(tiny_video_dir / 'class0' / 'vid0.mp4')
    all_frames = decord.VideoReader(path)[:].asnumpy()
    np.random.seed(3)
    for _ in range(5):
        out = SeCoSampleFrames()(dict(filename=path))
        a, b, c = out['frame_inds']
        assert len(out['imgs']) == 3
        for idx, img in zip((a, b, c), out['imgs']):
            assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
            assert np.array_equal(img, all_frames[idx])
        assert out['total_frames'] == 24
        assert out['seco_order'] in (0, 1)
        assert 'video_reader' not in out


def test_sampler_reads_rawframe_folders(tmp_path):
    frame_dir = tmp_path / 'frames'
    frame_dir.mkdir()
    for i in range(1, 11):  # RawframeDataset: 1-based img_00001.jpg
        img = np.full((8, 8, 3), i * 20, np.uint8)
        cv2.imwrite(str(frame_dir / f'img_{i:05d}.jpg'), img)
    results = dict(frame_dir=str(frame_dir), total_frames=10,
                   filename_tmpl='img_{:05}.jpg', start_index=1)
    out = SeCoSampleFrames()(results)
    for idx, img in zip(out['frame_inds'], out['imgs']):
        assert abs(int(img.mean()) - (idx + 1) * 20) <= 2  # JPEG rounding


def test_too_short_and_missing_videos_raise_named_errors(tmp_path):
    from tests.conftest import moving_square_frames, write_video
    short = str(tmp_path / 'short.mp4')
    write_video(short, moving_square_frames(0, num_frames=2))
    with pytest.raises(VideoReadError, match='short.mp4.*only 2 frames'):
        SeCoSampleFrames()(dict(filename=short))
    with pytest.raises(VideoReadError, match='missing.mp4.*not found'):
        SeCoSampleFrames()(dict(filename=str(tmp_path / 'missing.mp4')))
    (tmp_path / 'empty.mp4').write_bytes(b'')
    with pytest.raises(VideoReadError, match='empty.mp4.*0 bytes'):
        SeCoSampleFrames()(dict(filename=str(tmp_path / 'empty.mp4')))
