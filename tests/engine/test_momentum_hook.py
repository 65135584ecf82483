"""SeCoMomentumHook: EMA arithmetic, buffers kept, cosine schedule, DDP unwrap."""
import math
from types import SimpleNamespace

import pytest
import torch
from mmaction.registry import HOOKS, MODELS
from mmengine.registry import init_default_scope

from tests.conftest import tiny_seco_model_cfg


@pytest.fixture
def model():
    init_default_scope('mmaction')
    torch.manual_seed(0)
    m = MODELS.build(tiny_seco_model_cfg())
    m.init_weights()
    return m


def test_ema_update_is_m_key_plus_one_minus_m_query(model):
    with torch.no_grad():
        for p in model.query_encoder.parameters():
            p.add_(torch.randn_like(p))
        for b in model.momentum_encoder.module.buffers():
            if b.dtype.is_floating_point:
                b.add_(1.0)  # key encoder's own BN statistics
    q = [p.detach().clone() for p in model.query_encoder.parameters()]
    k = [p.detach().clone() for p in model.momentum_encoder.parameters()]
    k_buf = [b.clone() for b in model.momentum_encoder.module.buffers()]
    hook = HOOKS.build(dict(type='SeCoMomentumHook', momentum=0.9))
    runner = SimpleNamespace(model=model, iter=3, max_iters=10)
    hook.after_train_iter(runner, batch_idx=3)
    for p_new, p_k, p_q in zip(model.momentum_encoder.parameters(), k, q):
        torch.testing.assert_close(p_new, 0.9 * p_k + 0.1 * p_q)
    for b_new, b_old in zip(model.momentum_encoder.module.buffers(), k_buf):
        assert torch.equal(b_new, b_old)  # buffers are not copied from query
    assert int(model.momentum_encoder.steps) == 1


def test_hook_unwraps_model_wrappers(model):
    from mmengine.model import MMDistributedDataParallel  # noqa: F401
    from mmengine.registry import MODEL_WRAPPERS

    wrapper_cls = MODEL_WRAPPERS.get('MMDistributedDataParallel')
    wrapped = wrapper_cls.__new__(wrapper_cls)
    torch.nn.Module.__init__(wrapped)
    wrapped.module = model
    hook = HOOKS.build(dict(type='SeCoMomentumHook', momentum=0.5))
    hook.after_train_iter(SimpleNamespace(model=wrapped, iter=0, max_iters=1),
                          batch_idx=0)
    assert int(model.momentum_encoder.steps) == 1


def test_cosine_schedule_goes_from_m0_to_one():
    hook = HOOKS.build(dict(type='SeCoMomentumHook', momentum=0.99,
                            cosine=True))
    assert hook.momentum_at(0, 100) == pytest.approx(0.99)
    assert hook.momentum_at(50, 100) == pytest.approx(1 - 0.01 * 0.5)
    assert hook.momentum_at(100, 100) == pytest.approx(1.0)
    values = [hook.momentum_at(t, 100) for t in range(101)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    const = HOOKS.build(dict(type='SeCoMomentumHook', momentum=0.999))
    assert const.momentum_at(77, 100) == 0.999


@pytest.mark.parametrize('m', [-0.1, 1.5, float('nan'), '0.99', True])
def test_momentum_outside_unit_interval_is_rejected(m):
    with pytest.raises(ValueError, match=r'SeCoMomentumHook\.momentum must '
                       r'be in \[0, 1\]'):
        HOOKS.build(dict(type='SeCoMomentumHook', momentum=m))


def test_momentum_one_freezes_key_encoder(model):
    before = [p.clone() for p in model.momentum_encoder.parameters()]
    with torch.no_grad():
        for p in model.query_encoder.parameters():
            p.add_(1.0)
    model.momentum_update(1.0)
    for a, b in zip(model.momentum_encoder.parameters(), before):
        assert torch.equal(a, b)
    assert not math.isnan(sum(float(p.sum()) for p in before))
