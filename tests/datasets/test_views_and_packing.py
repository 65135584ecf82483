"""Four-view augmentation, photometric transforms and packing for the model."""
import random

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


def _recipe_views(size):
    """The base config's view pipeline (RandomApply-gated colour steps)."""
    from mmengine.config import Config
    views = [v.to_dict() for v in Config.fromfile(
        'configs/_base_/datasets/kinetics400_seco.py').view_pipeline]
    for v in views:
        if v['type'] == 'Resize':
            v['scale'] = (size, size)
    return views


def test_random_apply_gates_draw_the_same_numbers_as_prob_gates():
    init_default_scope('mmaction')
    recipe = _recipe_views(24)
    gated = [v for v in recipe if v['type'] == 'RandomApply']
    assert [g['prob'] for g in gated] == [0.8, 0.2, 0.5]
    new = TRANSFORMS.build(dict(type='SeCoMultiView', view_pipeline=recipe))
    # the same recipe gated by the transforms' own ``prob`` (their defaults
    # are the recipe's values)
    old = TRANSFORMS.build(dict(type='SeCoMultiView',
                                view_pipeline=tiny_view_pipeline(24)))
    frames = _frames()
    for seed in range(12):  # RandomResizedCrop also draws from `random`
        random.seed(seed)
        np.random.seed(seed)
        a = new(dict(imgs=list(frames)))['imgs']
        after_new = np.random.rand()
        random.seed(seed)
        np.random.seed(seed)
        b = old(dict(imgs=list(frames)))['imgs']
        assert np.random.rand() == after_new  # same count of draws
        for x, y in zip(a, b):
            assert np.array_equal(x, y)


def test_prob_one_draws_nothing_and_wrapped_names_stay_ours():
    from mmengine.registry import DefaultScope
    from seco_mm.datasets.transforms import RandomGrayscale
    img = _frames()[0]
    np.random.seed(3)
    expect = np.random.rand()
    np.random.seed(3)
    TRANSFORMS.build(dict(type='RandomGrayscale', prob=1.0))(dict(imgs=[img]))
    assert np.random.rand() == expect
    # under mmcv's scope RandomApply alone would build mmcv's BGR
    # RandomGrayscale; SeCoMultiView builds the wrapped dicts itself
    with DefaultScope.overwrite_default_scope('mmcv'):
        mv = TRANSFORMS.build(dict(type='SeCoMultiView', view_pipeline=[
            dict(type='RandomApply', prob=1.0,
                 transforms=[dict(type='RandomGrayscale', prob=1.0)])]))
    inner = list(mv.view_pipeline.transforms[0].transforms)
    assert len(inner) == 1 and isinstance(inner[0], RandomGrayscale)
    views = mv(dict(imgs=_frames()))['imgs']
    assert all(np.array_equal(v[..., 0], v[..., 2]) for v in views)
