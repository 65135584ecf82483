"""Split BN with one process: MoCo's shuffling BN emulated over G groups."""
import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope

from seco_mm.models.utils.batch_shuffle import split_shuffle_indices
from seco_mm.models.utils.split_batch_norm import (SplitBatchNorm2d,
                                                   convert_split_bn)
from tests.conftest import tiny_seco_model_cfg


def _backbone_state(state_dict):
    """The query backbone's tensors without their ``backbone.`` prefix
    (what an export holds)."""
    return {k[len('backbone.'):]: v for k, v in state_dict.items()
            if k.startswith('backbone.')}


def _model(groups, **kwargs):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    cfg = tiny_seco_model_cfg(queue_len=16, split_bn_groups=groups, **kwargs)
    cfg['neck']['hidden_norm'] = True  # BN1d in the projectors too
    m = MODELS.build(cfg)
    m.init_weights()
    return m.train()


def _influence(fn, x, batch):
    """sets[v][i] = samples j whose perturbation (in every view) changes
    output i of view v; ``fn`` maps (V, B, 3, H, W) -> (V, B, D)."""
    torch.manual_seed(123)
    base = fn(x)
    sets = [[set() for _ in range(batch)] for _ in range(base.shape[0])]
    for j in range(batch):
        moved = x.clone()
        moved[:, j] += 3 * torch.randn_like(moved[:, j])
        torch.manual_seed(123)  # the same key shuffle
        out = fn(moved)
        for v in range(base.shape[0]):
            for i in range(batch):
                if not torch.allclose(out[v, i], base[v, i], atol=1e-6,
                                      rtol=0):
                    sets[v][i].add(j)
    return sets


@pytest.mark.parametrize('key_forward', ['per_view', 'batched'])
def test_query_and_key_are_normalised_with_different_samples(key_forward):
    """The property shuffling BN exists for: the samples whose statistics
    normalise a query differ from those that normalise each of its keys
    (traced by perturbing one sample's input and seeing which embeddings
    move, in train mode)."""
    B, G = 8, 4
    model = _model(G, key_forward=key_forward)
    x = torch.randn(3, B, 3, 32, 32)  # three key views; view 0 as query

    def query(v):
        return model.encode_query(v[0])['inter'].unsqueeze(0)

    def keys(v):
        return model.encode_keys(v)['inter']

    with torch.no_grad():
        q_sets = _influence(query, x, B)[0]
        k_sets = _influence(keys, x, B)
    for i in range(B):
        assert q_sets[i] == {j for j in range(B) if j % G == i % G}, i
        for v in range(3):
            assert i in k_sets[v][i], (v, i)
            assert k_sets[v][i] != q_sets[i], (v, i, k_sets[v][i])

    # without split BN (one group) a query and its key are normalised with
    # the same samples (the whole batch): the shortcut the split closes
    plain = _model(1, key_forward='per_view')
    with torch.no_grad():
        q_all = _influence(
            lambda v: plain.encode_query(v[0])['inter'].unsqueeze(0), x, B)
        k_all = _influence(lambda v: plain.encode_keys(v)['inter'], x, B)
    assert all(q == k == set(range(B)) for q, k in zip(q_all[0], k_all[0]))


def test_split_shuffle_spreads_every_query_group():
    for groups, batch in ((2, 4), (4, 8), (4, 32), (8, 16)):
        qgroup = torch.arange(batch * 3) % batch % groups  # batched: 3 views
        for seed in range(20):
            perm = split_shuffle_indices(
                qgroup, groups, torch.Generator().manual_seed(seed))
            assert sorted(perm.tolist()) == list(range(batch * 3))
            for h in range(groups):
                members = perm[h::groups]  # key BN group h
                assert len(set(qgroup[members].tolist())) >= 2


def test_running_stats_are_the_mean_of_the_groups():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(5)
    ref = [nn.BatchNorm2d(5) for _ in range(2)]
    convert_split_bn(bn)
    bn.num_splits = 2
    x = torch.randn(6, 5, 4, 4)
    y = bn(x)
    parts = [ref[g](x[g::2]) for g in range(2)]  # group g = n % 2
    for g in range(2):
        torch.testing.assert_close(y[g::2], parts[g])
    torch.testing.assert_close(
        bn.running_mean, (ref[0].running_mean + ref[1].running_mean) / 2)
    torch.testing.assert_close(
        bn.running_var, (ref[0].running_var + ref[1].running_var) / 2)
    assert int(bn.num_batches_tracked) == 1
    bn.eval()  # eval: plain BN with the averaged running statistics
    torch.testing.assert_close(
        bn(x), nn.functional.batch_norm(x, bn.running_mean, bn.running_var,
                                        bn.weight, bn.bias, False, 0., bn.eps))


def test_state_dict_keys_unchanged_and_export_loads_into_stock_resnet():
    split, plain = _model(4), _model(1)
    assert isinstance(split.backbone.conv1.bn, SplitBatchNorm2d)
    assert isinstance(split.momentum_encoder.module[0].conv1.bn,
                      SplitBatchNorm2d)
    assert split.state_dict().keys() == plain.state_dict().keys()
    resnet = MODELS.build(dict(type='ResNet', depth=18, pretrained=None))
    missing, unexpected = resnet.load_state_dict(
        _backbone_state(split.state_dict()), strict=True)
    assert not missing and not unexpected
    assert type(resnet.conv1.bn) is nn.BatchNorm2d


def test_groups_are_off_under_ddp_and_fall_back_for_odd_batches(monkeypatch):
    model = _model(4)
    assert model.bn_groups(8) == 4
    assert model.bn_groups(6) == 3  # largest divisor <= 4 with >= 2 each
    assert model.bn_groups(2) == 1
    import seco_mm.models.algorithms.seco as seco_module
    monkeypatch.setattr(seco_module, 'get_world_size', lambda: 2)
    assert model.bn_groups(8) == 1  # DDP: the cross-process shuffle
    with pytest.raises(ValueError, match='split_bn_groups'):
        _model(0)
