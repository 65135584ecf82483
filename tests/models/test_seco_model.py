"""The SeCo algorithm: gradients, queue, momentum encoder, MoCo v2 init."""

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

from seco_mm.models.utils.checkpoint_format import torchvision_name
from tests.conftest import tiny_seco_model_cfg


@pytest.fixture
def model():
    init_default_scope('mmaction')
    torch.manual_seed(0)
    m = MODELS.build(tiny_seco_model_cfg(queue_len=10))
    m.init_weights()
    return m


def _batch(B=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (4, 3, size, size), generator=g,
                            dtype=torch.uint8) for _ in range(B)]
    samples = []
    for i in range(B):
        s = ActionDataSample()
        s.set_field(i % 2, 'seco_order')
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_loss_keys_and_gradients_reach_query_side_only(model):
    data = model.data_preprocessor(_batch(), True)
    assert data['inputs'].shape == (2, 4, 3, 32, 32)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_inter', 'loss_intra', 'loss_order',
                           'acc_inter', 'acc_intra', 'acc_order'}
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    for name, p in model.named_parameters():
        if name.startswith('momentum_encoder.'):
            assert p.grad is None and not p.requires_grad, name
        elif name.startswith(('backbone.', 'neck.', 'order_head.')):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert not model.queue.requires_grad


def test_key_encoder_starts_as_exact_copy(model):
    q_state = model.query_encoder.state_dict()
    k_state = model.momentum_encoder.module.state_dict()
    assert q_state.keys() == k_state.keys()
    for k in q_state:
        assert torch.equal(q_state[k], k_state[k]), k


def test_queue_wraps_around_with_fixed_size(model):
    K = model.queue.shape[0]  # 10
    model.queue_ptr.zero_()
    first = torch.arange(6 * 16, dtype=torch.float).view(6, 16)
    model.enqueue(first)
    assert int(model.queue_ptr) == 6
    assert torch.equal(model.queue[:6], first)
    second = -torch.arange(1, 6 * 16 + 1, dtype=torch.float).view(6, 16)
    model.enqueue(second)
    assert int(model.queue_ptr) == (6 + 6) % K == 2
    assert torch.equal(model.queue[6:10], second[:4])  # tail of the ring
    assert torch.equal(model.queue[0:2], second[4:6])  # wrapped to the head
    assert torch.equal(model.queue[2:6], first[2:6])  # untouched entries
    assert model.queue.shape == (K, 16)


def test_loss_enqueues_all_three_key_views(model):
    model.queue_ptr.zero_()
    data = model.data_preprocessor(_batch(B=3), True)
    with torch.no_grad():
        inputs = data['inputs']
        keys = model.encode_keys(inputs[:, 1:].transpose(0, 1))['inter']
    model.train()
    model(**data, mode='loss')
    assert int(model.queue_ptr) == 9  # 3 views x B=3
    # same keys as a separate key-encoder pass (BN in train mode uses batch
    # statistics, so the embeddings are reproducible for the same batch)
    torch.testing.assert_close(model.queue[:9], keys.flatten(0, 1),
                               rtol=1e-4, atol=1e-5)


def test_per_view_key_forward_differs_only_by_bn_statistics():
    init_default_scope('mmaction')
    torch.manual_seed(0)
    batched = MODELS.build(tiny_seco_model_cfg(key_forward='batched'))
    per_view = MODELS.build(tiny_seco_model_cfg(key_forward='per_view'))
    batched.init_weights()
    per_view.load_state_dict(batched.state_dict())
    keys = torch.randn(3, 2, 3, 32, 32)
    a = batched.encode_keys(keys)['inter']
    b = per_view.encode_keys(keys)['inter']
    assert a.shape == b.shape == (3, 2, 16)
    assert not torch.allclose(a, b, atol=1e-4)  # BN stats differ (train mode)
    # with the same running statistics in eval mode the math is identical
    per_view.load_state_dict(batched.state_dict())
    batched.eval(), per_view.eval()
    torch.testing.assert_close(batched.encode_keys(keys)['inter'],
                               per_view.encode_keys(keys)['inter'])


@pytest.mark.parametrize('key,value,match', [
    ('queue_len', 0, 'queue_len'), ('queue_len', -5, 'queue_len'),
    ('feat_dim', 0, 'feat_dim'), ('key_forward', 'twice', 'key_forward')])
def test_bad_model_config_names_the_key(key, value, match):
    init_default_scope('mmaction')
    with pytest.raises(ValueError, match=match):
        MODELS.build(tiny_seco_model_cfg(**{key: value}))


def test_moco_v2_initialisation_maps_every_key(tmp_path, model):
    init_default_scope('mmaction')
    torch.manual_seed(1)
    donor = MODELS.build(tiny_seco_model_cfg())
    donor.init_weights()
    state = {f'module.encoder_q.{torchvision_name(k)}': v.clone()
             for k, v in donor.backbone.state_dict().items()}
    proj = donor.neck.projectors['inter'].state_dict()
    state.update({f'module.encoder_q.fc.{k}': v for k, v in proj.items()})
    state['module.encoder_k.conv1.weight'] = torch.zeros(1)  # ignored
    path = tmp_path / 'moco_v2.pth'
    torch.save({'state_dict': state}, path)

    model.moco_checkpoint = str(path)
    model.init_weights()
    for k, v in donor.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k
        assert torch.equal(model.momentum_encoder.module[0].state_dict()[k], v)
    for name in ('inter', 'intra', 'order'):
        for k, v in proj.items():
            assert torch.equal(model.neck.projectors[name].state_dict()[k], v)

    state['module.encoder_q.extra_head.weight'] = torch.zeros(1)
    torch.save({'state_dict': state}, path)
    with pytest.raises(KeyError, match='extra_head'):
        model.init_weights()
