"""SeCo's three losses against an independent computation of their formulas (docs/method.md)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seco_mm.models.heads import InterFrameHead, IntraFrameHead, OrderHead


def _unit(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def _np_cross_entropy(logits, target):
    """Mean cross-entropy in float64 numpy: -log softmax(logits)[target]."""
    logits = np.asarray(logits, dtype=np.float64)
    m = logits.max(axis=1, keepdims=True)
    log_z = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return float(np.mean(log_z - logits[np.arange(len(target)), target]))


def test_inter_loss_equals_infonce_on_full_logits():
    B, D, K, T = 5, 8, 11, 0.1
    q, keys, queue = _unit(B, D, seed=0), _unit(3, B, D, seed=1), _unit(
        K, D, seed=2)
    out = InterFrameHead(temperature=T).loss(q, keys, queue)
    # reference: rows [q.k_x | q.queue] for x in same, b, c; positive column 0
    qn, kn, Qn = q.double().numpy(), keys.double().numpy(), queue.double().numpy()
    rows = []
    for v in range(3):
        for i in range(B):
            rows.append(np.concatenate([[qn[i] @ kn[v, i]], Qn @ qn[i]]) / T)
    expected = _np_cross_entropy(np.stack(rows), np.zeros(3 * B, dtype=int))
    assert out['loss_inter'].item() == pytest.approx(expected, rel=1e-5)
    top1 = np.mean([np.argmax(r) == 0 for r in rows]) * 100
    assert out['acc_inter'].item() == pytest.approx(top1)


def test_intra_loss_equals_two_way_softmax():
    B, D, T = 6, 8, 0.1
    q, k_same, k_others = _unit(B, D, seed=3), _unit(B, D, seed=4), _unit(
        2, B, D, seed=5)
    out = IntraFrameHead(temperature=T).loss(q, k_same, k_others)
    rows = []
    for v in range(2):
        for i in range(B):
            rows.append([float(q[i] @ k_same[i]) / T,
                         float(q[i] @ k_others[v, i]) / T])
    expected = _np_cross_entropy(np.array(rows), np.zeros(2 * B, dtype=int))
    assert out['loss_intra'].item() == pytest.approx(expected, rel=1e-5)
    assert out['acc_intra'].item() == pytest.approx(
        np.mean([r[0] > r[1] for r in rows]) * 100)


def test_order_loss_is_cross_entropy_of_linear_on_concat():
    B, D = 7, 4
    head = OrderHead(in_channels=D)
    q, kb, kc = _unit(B, D, seed=6), _unit(B, D, seed=7), _unit(B, D, seed=8)
    order = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    out = head.loss(q, kb, kc, order)
    W = head.fc.weight.detach().double().numpy()
    b = head.fc.bias.detach().double().numpy()
    x = np.concatenate([q.numpy(), kb.numpy(), kc.numpy()], axis=1)
    expected = _np_cross_entropy(x @ W.T + b, order.numpy())
    assert out['loss_order'].item() == pytest.approx(expected, rel=1e-5)


def test_loss_weights_scale_losses():
    q, keys, queue = _unit(3, 4, seed=0), _unit(3, 3, 4, seed=1), _unit(
        5, 4, seed=2)
    base = InterFrameHead(loss_weight=1.0).loss(q, keys, queue)['loss_inter']
    half = InterFrameHead(loss_weight=0.5).loss(q, keys, queue)['loss_inter']
    assert half.item() == pytest.approx(0.5 * base.item())


@pytest.mark.parametrize('head', [InterFrameHead, IntraFrameHead])
def test_non_positive_temperature_is_rejected(head):
    with pytest.raises(ValueError, match='temperature'):
        head(temperature=0.0)


@pytest.mark.parametrize('head, key', [(InterFrameHead, 'model.inter_head'),
                                       (IntraFrameHead, 'model.intra_head')])
@pytest.mark.parametrize('temperature', [float('nan'), float('inf'), '0.1'])
def test_non_finite_temperature_is_rejected_naming_the_key(
        head, key, temperature):
    with pytest.raises(ValueError, match=rf'{key}\.temperature must be a '
                       rf'finite number > 0, got {temperature!r}'):
        head(temperature=temperature)


@pytest.mark.parametrize('head, key', [(InterFrameHead, 'model.inter_head'),
                                       (IntraFrameHead, 'model.intra_head'),
                                       (OrderHead, 'model.order_head')])
def test_bad_loss_weight_is_rejected_naming_the_key(head, key):
    for weight in (-0.5, float('nan'), True):
        with pytest.raises(ValueError, match=rf'{key}\.loss_weight must be a'
                           ' finite number >= 0'):
            head(loss_weight=weight)
    assert head(loss_weight=0.0).loss_weight == 0.0
