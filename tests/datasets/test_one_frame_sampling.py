"""One frame per clip (MoCo v2 on frames): sampling, decoding, two views."""
import cv2
import decord
import numpy as np
import pytest
import torch
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from seco_mm.datasets.transforms import (SeCoDecordDecode, SeCoDecordInit,
                                         SeCoSampleFrames, SeCoSampleIndices,
                                         VideoReadError,
                                         sample_one_frame_index)
from seco_mm.datasets.transforms import loading
from tests.conftest import tiny_view_pipeline


class _CountingReader:
    """A decord reader that records the indices of every decode call."""

    def __init__(self, reader):
        self.reader, self.calls = reader, []

    def get_batch(self, inds):
        self.calls.append(list(inds))
        return self.reader.get_batch(inds)

    def __getattr__(self, name):
        return getattr(self.reader, name)


def test_one_frame_is_uniform_over_the_whole_video():
    rng = np.random.RandomState(0)
    draws = np.array([sample_one_frame_index(10, rng=rng)
                      for _ in range(5000)])
    counts = np.bincount(draws, minlength=10)
    assert counts.size == 10 and counts.min() > 0
    # 500 expected per frame; 5 standard deviations ~ 106
    assert np.abs(counts - 500).max() < 106
    kf = [sample_one_frame_index(10, keyframes=[2, 7], rng=rng)
          for _ in range(200)]
    assert set(kf) == {2, 7}
    # no keyframe listed: any frame
    assert sample_one_frame_index(5, keyframes=[], rng=rng) in range(5)


def test_sampler_decodes_only_one_frame(tiny_video_dir):
    path = str(tiny_video_dir / 'class0' / 'vid2.mp4')
    all_frames = decord.VideoReader(path)[:].asnumpy()
    np.random.seed(0)
    for _ in range(4):
        results = SeCoDecordInit()(dict(filename=path))
        reader = _CountingReader(results['video_reader'])
        results['video_reader'] = reader
        results = SeCoSampleIndices(one_frame=True)(results)
        assert results['frame_inds'].shape == (1, )
        assert results['clip_len'] == 1 and 'seco_order' not in results
        out = SeCoDecordDecode()(results)
        assert reader.calls == [[int(results['frame_inds'][0])]]
        assert len(out['imgs']) == 1
        assert np.array_equal(out['imgs'][0],
                              all_frames[results['frame_inds'][0]])
    out = SeCoSampleFrames(one_frame=True)(dict(filename=path))
    assert out['frame_inds'].shape == (1, ) and len(out['imgs']) == 1
    assert 'one_frame=True' in repr(SeCoSampleFrames(one_frame=True))


def test_frame_folder_reads_one_image(tmp_path, monkeypatch):
    frame_dir = tmp_path / 'frames'
    frame_dir.mkdir()
    for i in range(1, 11):
        cv2.imwrite(str(frame_dir / f'img_{i:05d}.jpg'),
                    np.full((8, 8, 3), i * 20, np.uint8))
    read = []
    fetch = loading.fetch_bytes
    monkeypatch.setattr(loading, 'fetch_bytes',
                        lambda p, a=None: read.append(p) or fetch(p, a))
    out = SeCoSampleFrames(one_frame=True)(dict(
        frame_dir=str(frame_dir), total_frames=10,
        filename_tmpl='img_{:05}.jpg', start_index=1))
    (idx, ) = out['frame_inds']  # 0-based
    assert read == [str(frame_dir / f'img_{idx + 1:05d}.jpg')]
    assert abs(int(out['imgs'][0].mean()) - (idx + 1) * 20) <= 2


def test_one_frame_keeps_min_frames_and_grid(tiny_video_dir, tmp_path):
    # the same clips are kept as with the triplet
    with pytest.raises(VideoReadError, match='SeCo needs >= 3'):
        SeCoSampleIndices(one_frame=True)(dict(total_frames=2))
    np.random.seed(0)
    grid = {int(SeCoSampleIndices(num_grid=4, one_frame=True)(
        dict(total_frames=40))['frame_inds'][0]) for _ in range(200)}
    assert grid == {5, 15, 25, 35}


def test_multiview_makes_two_views_of_one_frame():
    init_default_scope('mmaction')
    a = (np.random.RandomState(0).rand(40, 50, 3) * 255).astype(np.uint8)
    fixed = TRANSFORMS.build(dict(
        type='SeCoMultiView',
        view_pipeline=[dict(type='Resize', scale=(20, 16),
                            keep_ratio=False)]))
    q, k = fixed(dict(imgs=[a]))['imgs']
    assert q.shape == (16, 20, 3) and np.array_equal(q, k)
    np.random.seed(0)
    random = TRANSFORMS.build(dict(type='SeCoMultiView',
                                   view_pipeline=tiny_view_pipeline(24)))
    out = random(dict(imgs=[a]))
    assert len(out['imgs']) == 2 and out['img_shape'] == (24, 24)
    with pytest.raises(ValueError, match='1 frame'):
        fixed(dict(imgs=[a, a]))


def test_one_frame_pipeline_packs_two_views(tiny_video_dir):
    init_default_scope('mmaction')
    pipeline = Compose([
        dict(type='SeCoSampleFrames', one_frame=True),
        dict(type='SeCoMultiView', view_pipeline=tiny_view_pipeline(32)),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs'),
    ])
    out = pipeline(dict(filename=str(tiny_video_dir / 'class1' / 'vid1.mp4'),
                        label=1))
    assert out['inputs'].shape == (2, 3, 32, 32)
    assert out['inputs'].dtype == torch.uint8
    assert 'seco_order' not in out['data_samples']
