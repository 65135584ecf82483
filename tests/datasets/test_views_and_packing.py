"""Four-view augmentation, photometric transforms and packing for the model."""
import numpy as np
import pytest
import torch
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from tests.conftest import tiny_train_pipeline, tiny_view_pipeline


def _frames():
    rng = np.random.RandomState(0)
    return [(rng.rand(40, 50, 3) * 255).astype(np.uint8) for _ in range(3)]


def test_multiview_makes_q_and_k_same_from_frame_a():
    init_default_scope('mmaction')
    identity_crop = [dict(type='Resize', scale=(20, 16), keep_ratio=False)]
    mv = TRANSFORMS.build(dict(type='SeCoMultiView',
                               view_pipeline=identity_crop))
    a, b, c = _frames()
    out = mv(dict(imgs=[a, b, c]))
    q, k_same, k_b, k_c = out['imgs']
    assert q.shape == (16, 20, 3) and out['img_shape'] == (16, 20)
    assert np.array_equal(q, k_same)  # same frame, deterministic pipeline
    assert not np.array_equal(q, k_b) and not np.array_equal(k_b, k_c)


def test_multiview_draws_each_view_independently():
    init_default_scope('mmaction')
    np.random.seed(0)
    mv = TRANSFORMS.build(dict(type='SeCoMultiView',
                               view_pipeline=tiny_view_pipeline(24)))
    a = _frames()[0]
    diffs = [not np.array_equal(*mv(dict(imgs=[a, a, a]))['imgs'][:2])
             for _ in range(10)]
    assert sum(diffs) >= 9


def test_multiview_rejects_wrong_frame_count():
    mv = TRANSFORMS.build(dict(type='SeCoMultiView', view_pipeline=[]))
    with pytest.raises(ValueError, match='expects 3 frames'):
        mv(dict(imgs=_frames()[:2]))


def test_grayscale_blur_and_jitter():
    img = _frames()[0]
    gray = TRANSFORMS.build(dict(type='RandomGrayscale', prob=1.0))(
        dict(imgs=[img]))['imgs'][0]
    assert gray.dtype == np.uint8
    assert np.array_equal(gray[..., 0], gray[..., 1])
    assert np.array_equal(gray[..., 1], gray[..., 2])
    expect = (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114]))
    assert np.abs(gray[..., 0] - expect).max() <= 1.0
    blur = TRANSFORMS.build(dict(type='RandomGaussianBlur', prob=1.0,
                                 sigma_range=(2.0, 2.0)))(
        dict(imgs=[img]))['imgs'][0]
    assert blur.std() < 0.7 * img.std()  # white noise loses variance
    never = TRANSFORMS.build(dict(type='RandomColorJitter', prob=0.0))
    assert np.array_equal(never(dict(imgs=[img]))['imgs'][0], img)
    always = TRANSFORMS.build(dict(type='RandomColorJitter', prob=1.0))
    np.random.seed(1)
    jittered = always(dict(imgs=[img]))['imgs'][0]
    assert jittered.dtype == np.uint8 and jittered.shape == img.shape
    assert not np.array_equal(jittered, img)
    with pytest.raises(ValueError, match='prob'):
        TRANSFORMS.build(dict(type='RandomGrayscale', prob=1.5))


def test_full_pipeline_packs_four_views_and_order_bit(tiny_video_dir):
    init_default_scope('mmaction')
    pipeline = Compose(tiny_train_pipeline(32))
    out = pipeline(dict(filename=str(tiny_video_dir / 'class1' / 'vid1.mp4'),
                        label=1))
    assert out['inputs'].shape == (4, 3, 32, 32)
    assert out['inputs'].dtype == torch.uint8
    assert out['data_samples'].seco_order in (0, 1)
    assert int(out['data_samples'].gt_label) == 1
