"""MoCo v2 on frames with one sampled frame: (B, 2, 3, H, W) inputs."""
import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

from tests.conftest import tiny_seco_model_cfg

MOCO = dict(intra_head=None, order_head=None, inter_keys='same_frame')


def _model(**kwargs):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    cfg = dict(MOCO, queue_len=16, split_bn_groups=1)
    cfg.update(kwargs)
    m = MODELS.build(tiny_seco_model_cfg(**cfg))
    m.init_weights()
    return m.train()


def _data(model, views=2, B=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = dict(inputs=[torch.randint(0, 256, (views, 3, 32, 32),
                                       generator=g, dtype=torch.uint8)
                         for _ in range(B)],
                 data_samples=[ActionDataSample() for _ in range(B)])
    return model.data_preprocessor(batch, True)


def test_two_view_loss_equals_hand_computed_infonce():
    model = _model()
    data = _data(model)
    x = data['inputs']
    assert x.shape == (4, 2, 3, 32, 32)
    queue = model.queue.clone()
    with torch.no_grad():  # the same encoders, by hand
        q = model.neck(model.backbone(x[:, 0]))['inter']  # (B, D)
        k = model.momentum_encoder(x[:, 1])['inter']  # (B, D)
    losses = model(x, data['data_samples'], mode='loss')
    assert set(losses) == {'loss_inter', 'acc_inter'}
    T = model.inter_head.temperature
    # logits row i: [q_i . k_i, q_i . queue_0, ..., q_i . queue_15] / T
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / T
    assert logits.shape == (4, 17)
    expected = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(losses['loss_inter'], expected,
                               rtol=1e-5, atol=1e-5)
    # the B keys k_same joined the queue
    assert int(model.queue_ptr) == 4
    torch.testing.assert_close(model.queue[:4], k)
    # gradient reaches the query encoder
    losses['loss_inter'].backward()
    assert model.backbone.conv1.conv.weight.grad.abs().sum() > 0


def test_two_views_give_the_loss_of_four_views_with_the_same_first_two():
    two = _model()
    four = _model()
    d2 = _data(two)
    x4 = torch.cat([d2['inputs'], torch.randn_like(d2['inputs'])], 1)
    a = two(d2['inputs'], d2['data_samples'], mode='loss')
    b = four(x4, d2['data_samples'], mode='loss')
    torch.testing.assert_close(a['loss_inter'], b['loss_inter'])
    torch.testing.assert_close(two.queue, four.queue)


def test_two_views_train_step_updates_and_enqueues():
    from mmengine.optim import OptimWrapper
    model = _model()
    g = torch.Generator().manual_seed(1)
    batch = dict(inputs=[torch.randint(0, 256, (2, 3, 32, 32), generator=g,
                                       dtype=torch.uint8) for _ in range(4)],
                 data_samples=[ActionDataSample() for _ in range(4)])
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.backbone.conv1.conv.weight.clone()
    log = model.train_step(batch, wrapper)
    assert torch.isfinite(log['loss']) and int(model.queue_ptr) == 4
    assert not torch.equal(before, model.backbone.conv1.conv.weight)


@pytest.mark.parametrize('heads', [
    dict(inter_keys='all'),
    dict(intra_head=tiny_seco_model_cfg()['intra_head']),
    dict(order_head=tiny_seco_model_cfg()['order_head']),
])
def test_two_views_with_a_seco_config_name_the_keys(heads):
    model = _model(**heads)
    assert not model.accepts_two_views
    data = _data(model)
    with pytest.raises(ValueError) as err:
        model(data['inputs'], data['data_samples'], mode='loss')
    msg = str(err.value)
    for key in ('model.intra_head=None', 'model.order_head=None',
                "model.inter_keys='same_frame'", 'one_frame=True',
                'train_dataloader.dataset.pipeline'):
        assert key in msg, key
    assert int(model.queue_ptr) == 0  # nothing was computed


@pytest.mark.parametrize('shape', [(4, 3, 3, 32, 32), (4, 3, 32, 32)])
def test_other_view_counts_are_refused(shape):
    model = _model()
    with pytest.raises(ValueError, match=r'expects inputs \(B, 4, 3, H, W\)'):
        model(torch.zeros(shape), [ActionDataSample()] * 4, mode='loss')
