"""MoCo-style initialisation with the real key layouts of a ResNet-50.

The torchvision names are written here from the architecture (independently
of the project's name map), the shapes come from a real mmaction2
ResNet-50. Every tensor in a synthetic file is a broadcast scalar (real
shape, one stored number, a distinct value per key), so files stay small and
any mis-mapped key shows up as a wrong value.
"""
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope

from seco_mm.models.utils.checkpoint_format import (mmaction_name,
                                                    torchvision_name)
from seco_mm.models.utils.moco_init import load_moco_v2
from tests.conftest import tiny_seco_model_cfg

R50_BLOCKS = (3, 4, 6, 3)
BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def torchvision_r50_names():
    """Every state-dict key of torchvision's resnet50 except ``fc``."""
    names = ['conv1.weight'] + [f'bn1.{p}' for p in BN]
    for s, blocks in enumerate(R50_BLOCKS, 1):
        for b in range(blocks):
            pre = f'layer{s}.{b}.'
            for n in (1, 2, 3):
                names += [f'{pre}conv{n}.weight'] + \
                    [f'{pre}bn{n}.{p}' for p in BN]
            if b == 0:
                names += [f'{pre}downsample.0.weight'] + \
                    [f'{pre}downsample.1.{p}' for p in BN]
    return names


@pytest.fixture(scope='module')
def r50_model():
    """SeCo with the paper's ResNet-50 and 2048-2048-128 heads."""
    init_default_scope('mmaction')
    cfg = tiny_seco_model_cfg(
        queue_len=8, feat_dim=128,
        backbone=dict(type='ResNet', depth=50, pretrained=None),
        neck=dict(type='SeCoProjector', in_channels=2048, hid_channels=2048,
                  out_channels=128),
        order_head=dict(type='OrderHead', in_channels=128))
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def tv_shapes(r50_model):
    """torchvision name -> shape, via the real mmaction2 ResNet-50."""
    return {torchvision_name(k): (v.shape, v.dtype)
            for k, v in r50_model.backbone.state_dict().items()}


def fill(names, shapes, offset):
    """name -> broadcast scalar tensor of the real shape, value offset + i."""
    return {n: torch.tensor(offset + i, dtype=shapes[n][1]).expand(
        shapes[n][0]) for i, n in enumerate(names)}


def mlp(offset, prefix):
    shapes = {'0.weight': (2048, 2048), '0.bias': (2048, ),
              '2.weight': (128, 2048), '2.bias': (128, )}
    return {f'{prefix}{k}': torch.tensor(float(offset + i)).expand(s)
            for i, (k, s) in enumerate(shapes.items())}


def test_name_map_matches_torchvision_resnet50(tv_shapes, r50_model):
    names = torchvision_r50_names()
    assert len(names) == 318 and set(tv_shapes) == set(names)
    assert tv_shapes['layer4.2.conv3.weight'][0] == (2048, 512, 1, 1)
    assert tv_shapes['layer1.0.downsample.0.weight'][0] == (256, 64, 1, 1)
    mm = r50_model.backbone.state_dict()
    assert {mmaction_name(n) for n in names} == set(mm)


def layout(name, shapes):
    """(checkpoint dict, query values, mlp values) in one real layout."""
    names = torchvision_r50_names()
    query = fill(names, shapes, 1000)
    key = fill(names, shapes, -5000)
    head = mlp(10, '')
    state = {}
    if name in ('moco_v2', 'moco_v2_stripped', 'moco_v1'):
        state.update({f'encoder_q.{k}': v for k, v in query.items()})
        state.update({f'encoder_k.{k}': v for k, v in key.items()})
        if name == 'moco_v1':
            state['encoder_q.fc.weight'] = torch.zeros(1).expand(128, 2048)
            state['encoder_q.fc.bias'] = torch.zeros(128)
            state['encoder_k.fc.weight'] = torch.zeros(1).expand(128, 2048)
            head = {}
        else:
            state.update({f'encoder_q.fc.{k}': v for k, v in head.items()})
            state.update({f'encoder_k.fc.{k}': -v for k, v in head.items()})
        state['queue'] = torch.randn(128, 16)
        state['queue_ptr'] = torch.zeros(1, dtype=torch.long)
        if name != 'moco_v2_stripped':
            state = {f'module.{k}': v for k, v in state.items()}
        ckpt = dict(epoch=200, arch='resnet50', state_dict=state,
                    optimizer=dict(state={}, param_groups=[dict(lr=0.03)]))
    elif name in ('mmselfsup1', 'mmselfsup0'):
        state.update({f'backbone.{k}': v for k, v in query.items()})
        state.update({f'neck.mlp.{k}': v for k, v in head.items()})
        if name == 'mmselfsup1':  # mmpretrain MoCoV2: EMA of backbone+neck
            state.update({f'momentum_encoder.module.0.{k}': v
                          for k, v in key.items()})
            state.update({f'momentum_encoder.module.1.mlp.{k}': v
                          for k, v in head.items()})
            state['momentum_encoder.steps'] = torch.tensor([3])
        else:  # mmselfsup 0.x: encoder_q aliases backbone and neck
            state.update({f'encoder_q.0.{k}': v for k, v in query.items()})
            state.update({f'encoder_q.1.mlp.{k}': v for k, v in head.items()})
            state.update({f'encoder_k.0.{k}': v for k, v in key.items()})
        state['queue'] = torch.randn(128, 16)
        state['queue_ptr'] = torch.zeros(1, dtype=torch.long)
        ckpt = dict(meta=dict(epoch=200), state_dict=state)
    else:  # plain torchvision resnet50 state dict with its classifier
        ckpt = dict(query)
        ckpt['fc.weight'] = torch.zeros(1).expand(1000, 2048)
        ckpt['fc.bias'] = torch.zeros(1000)
        head = {}
    return ckpt, query, head


@pytest.mark.parametrize('name,skipped', [
    ('moco_v2', {'key encoder': 322, 'queue': 2}),
    ('moco_v2_stripped', {'key encoder': 322, 'queue': 2}),
    ('moco_v1', {'key encoder': 319, 'queue': 2,
                 'single linear fc (classifier / MoCo v1)': 2}),
    ('mmselfsup1', {'key encoder': 323, 'queue': 2}),
    ('mmselfsup0', {'key encoder': 318, 'queue': 2}),
    ('torchvision', {'single linear fc (classifier / MoCo v1)': 2}),
])
def test_each_real_layout_loads_every_tensor(name, skipped, r50_model,
                                             tv_shapes, tmp_path):
    ckpt, query, head = layout(name, tv_shapes)
    path = str(tmp_path / f'{name}.pth.tar')
    # MoCo's release was written by torch 1.x: the legacy (non-zip) format
    torch.save(ckpt, path, _use_new_zipfile_serialization=name != 'moco_v2')
    with torch.no_grad():  # make sure nothing left over passes the check
        for t in list(r50_model.backbone.state_dict().values()) + list(
                r50_model.neck.state_dict().values()):
            t.fill_(-1)
    report = load_moco_v2(r50_model, path)
    mm = r50_model.backbone.state_dict()
    for tv, value in query.items():
        assert torch.equal(mm[mmaction_name(tv)], value), tv
    for proj in r50_model.neck.projectors.values():
        linears = [m for m in proj if isinstance(m, torch.nn.Linear)]
        for k, value in head.items():
            layer = linears[0] if k.startswith('0.') else linears[-1]
            assert torch.equal(getattr(layer, k.split('.')[1]), value), k
        if not head:  # no MLP in the file: heads untouched
            assert (linears[0].weight == -1).all()
    assert report['loaded']['backbone'] == 318
    assert report['loaded'].get('projection MLP', 0) == len(head)
    got = {k: v for k, v in report['skipped'].items()
           if not k.startswith('other entries')}
    assert got == skipped
    if name.startswith('moco_v'):
        assert report['skipped'][
            'other entries (arch, epoch, optimizer)'] == 3


def test_missing_unknown_and_misshaped_keys_are_named(r50_model, tv_shapes,
                                                      tmp_path):
    ckpt, _, _ = layout('moco_v2_stripped', tv_shapes)
    path = str(tmp_path / 'bad.pth')
    state = ckpt['state_dict']
    del state['encoder_q.layer3.5.bn2.running_var']
    torch.save(ckpt, path)
    with pytest.raises(KeyError, match=r'missing \[.layer3.5.conv2.bn.'
                       r'running_var.\]'):
        load_moco_v2(r50_model, path)
    state['encoder_q.layer3.5.bn2.running_var'] = torch.ones(256)
    state['encoder_q.attnpool.weight'] = torch.ones(1)
    torch.save(ckpt, path)
    with pytest.raises(KeyError, match='attnpool'):
        load_moco_v2(r50_model, path)
    del state['encoder_q.attnpool.weight']
    state['encoder_q.fc.2.weight'] = torch.ones(64, 2048)
    torch.save(ckpt, path)
    with pytest.raises(KeyError, match=r"projector 'inter'.*2.weight: file "
                       r'\(64, 2048\) vs model \(128, 2048\)'):
        load_moco_v2(r50_model, path)


def test_pickled_code_in_moco_file_is_refused(r50_model, tmp_path):
    import os

    from seco_mm.engine.safe_load import UnsafeCheckpointError

    marker = tmp_path / 'pwned'

    class Payload:
        def __reduce__(self):
            return os.system, (f'touch {marker}', )

    path = str(tmp_path / 'evil.pth.tar')
    torch.save({'state_dict': {'x': Payload()}}, path)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth.tar'):
        load_moco_v2(r50_model, path)
    assert not marker.exists()
