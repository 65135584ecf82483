"""Ablation switches (heads on/off, loss weights, MoCo-on-frames) and the
sizes derived from the projector."""
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tests.conftest import ROOT, tiny_seco_model_cfg

ALL = ('inter', 'intra', 'order')


def _model(**kwargs):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    m = MODELS.build(tiny_seco_model_cfg(queue_len=16, **kwargs))
    m.init_weights()
    return m.train()


def _data(model, B=4):
    g = torch.Generator().manual_seed(0)
    samples = []
    for i in range(B):
        s = ActionDataSample()
        s.set_field(i % 2, 'seco_order')
        samples.append(s)
    batch = dict(inputs=[torch.randint(0, 256, (4, 3, 32, 32), generator=g,
                                       dtype=torch.uint8) for _ in range(B)],
                 data_samples=samples)
    return model.data_preprocessor(batch, True)


@pytest.mark.parametrize('off', [(), ('intra', ), ('order', ),
                                 ('intra', 'order'), ('inter', 'order')])
@pytest.mark.parametrize('how', ['none', 'zero_weight'])
def test_switched_off_heads_are_not_built_computed_or_trained(off, how):
    heads = {}
    for name in off:
        cfg = tiny_seco_model_cfg()[f'{name}_head']
        heads[f'{name}_head'] = None if how == 'none' else dict(
            cfg, loss_weight=0.0)
    model = _model(**heads)
    on = tuple(h for h in ALL if h not in off)
    assert model.active_heads == on
    assert set(model.neck.projectors) == set(on)
    assert set(model.momentum_encoder.module[1].projectors) == set(on)
    for name in off:
        assert not hasattr(model, f'{name}_head')
    losses = model(**_data(model), mode='loss')
    assert {k for k in losses if k.startswith('loss')} == {
        f'loss_{h}' for h in on}
    assert {k for k in losses if k.startswith('acc')} == {
        f'acc_{h}' for h in on}
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    for name, p in model.named_parameters():
        if name.startswith('momentum_encoder.'):
            continue
        if name.startswith(('backbone.', 'order_head.')) or any(
                name.startswith(f'neck.projectors.{h}.') for h in on):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    # the queue is fed only by the inter task
    assert int(model.queue_ptr) == (3 * 4 if 'inter' in on else 0)


def test_key_views_encoded_follow_the_active_tasks():
    order_only = _model(inter_head=None, intra_head=None)
    assert order_only.key_views == (1, 2)  # k_b, k_c
    moco = _model(intra_head=None, order_head=None, inter_keys='same_frame')
    assert moco.key_views == (0, )  # k_same only
    assert _model().key_views == (0, 1, 2)


def test_moco_on_frames_is_infonce_of_two_views_of_one_frame():
    model = _model(intra_head=None, order_head=None, inter_keys='same_frame')
    data = _data(model)
    seen = {}
    inner = model.inter_head.loss

    def spy(q, keys, queue):
        seen['keys'] = keys
        return inner(q, keys, queue)

    model.inter_head.loss = spy
    frames = data['inputs']
    # changing the other-frame views (k_b, k_c) changes nothing
    other = frames.clone()
    other[:, 2:] = torch.randn_like(other[:, 2:])
    queue = model.queue.clone()
    torch.manual_seed(1)
    a = model(frames, data['data_samples'], mode='loss')
    assert int(model.queue_ptr) == 4  # B keys of k_same only
    model.queue_ptr.zero_()
    model.queue.copy_(queue)
    torch.manual_seed(1)
    b = model(other, data['data_samples'], mode='loss')
    assert seen['keys'].shape == (1, 4, 16)
    assert set(a) == {'loss_inter', 'acc_inter'}
    torch.testing.assert_close(a['loss_inter'], b['loss_inter'])


def test_loss_weight_scales_the_loss():
    init_default_scope('mmaction')
    data = _data(_model())
    base = _model()
    torch.manual_seed(3)
    ref = base(**data, mode='loss')
    heavy = _model(intra_head=dict(type='IntraFrameHead', temperature=0.1,
                                   loss_weight=2.5))
    torch.manual_seed(3)
    got = heavy(**data, mode='loss')
    torch.testing.assert_close(got['loss_intra'], 2.5 * ref['loss_intra'])


def test_no_active_head_is_refused():
    with pytest.raises(ValueError, match='at least one active head'):
        _model(inter_head=None, intra_head=None, order_head=None)


def test_sizes_are_derived_from_the_projector():
    cfg = tiny_seco_model_cfg()
    cfg.pop('feat_dim')
    cfg['order_head'] = dict(type='OrderHead')
    init_default_scope('mmaction')
    model = MODELS.build(cfg)
    assert model.feat_dim == 16 and model.queue.shape == (64, 16)
    assert model.order_head.fc.in_features == 3 * 16
    with pytest.raises(ValueError, match=r'model.feat_dim=32 disagrees with '
                       r'model.neck.out_channels=16'):
        _model(feat_dim=32)
    with pytest.raises(ValueError, match='model.order_head.in_channels=8'):
        _model(order_head=dict(type='OrderHead', in_channels=8))
    with pytest.raises(ValueError, match='model.neck.names'):
        _model(intra_head=None,
               neck=dict(tiny_seco_model_cfg()['neck'], names=ALL))


@pytest.mark.parametrize('name,heads,inter_keys', [
    ('seco_r18_demo_inter.py', ('inter', ), 'all'),
    ('seco_r18_demo_inter_intra.py', ('inter', 'intra'), 'all'),
    ('seco_r18_demo_inter_order.py', ('inter', 'order'), 'all'),
    ('seco_r18_demo_full.py', ALL, 'all'),
    ('moco_v2_r18_demo_frames.py', ('inter', ), 'same_frame')])
def test_ablation_configs_build_the_intended_model(name, heads, inter_keys):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ablation', name))
    demo = Config.fromfile(osp.join(ROOT, 'configs', 'seco_r18_demo.py'))
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    assert model.active_heads == heads and model.inter_keys == inter_keys
    # same data, budget and schedule as the demo
    for key in ('param_scheduler', 'train_cfg', 'optim_wrapper',
                'custom_hooks'):
        assert cfg[key] == demo[key], key
    loader, demo_loader = (c.train_dataloader.to_dict() for c in (cfg, demo))
    pipeline = loader['dataset'].pop('pipeline')
    demo_pipeline = demo_loader['dataset'].pop('pipeline')
    assert loader == demo_loader
    if inter_keys == 'same_frame':  # one frame, two views, no order bit
        assert pipeline[0] == dict(type='SeCoSampleFrames', one_frame=True)
        assert pipeline[1] == demo_pipeline[1]  # the same view recipe
        assert pipeline[3] == dict(type='PackActionInputs')
        assert model.accepts_two_views
    else:
        assert pipeline == demo_pipeline
