"""tools/export_backbone.py and seco_mm.models.utils.export."""
import os.path as osp

import pytest
import torch

from seco_mm.models.utils.export import (SeCoCheckpointError, export_backbone,
                                         infer_resnet_cfg, load_seco_checkpoint,
                                         read_backbone_state,
                                         to_torchvision_names)
from tests.conftest import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))



def test_export_round_trip(fake_seco_ckpt, tmp_path):
    src, query, _ = fake_seco_ckpt
    out = str(tmp_path / 'backbone.pth')
    info = export_backbone(src, out)
    saved = torch.load(out, map_location='cpu')
    assert set(saved) == {'state_dict', 'meta'}
    state = saved['state_dict']
    expected = query.state_dict()
    assert set(state) == {f'backbone.{k}' for k in expected}  # no extra keys
    for k, v in expected.items():
        assert torch.equal(state[f'backbone.{k}'], v), k
    assert saved['meta']['seco_backbone_cfg'] == dict(type='ResNet', depth=18)
    assert saved['meta']['source'] == osp.abspath(src)
    assert info['num_tensors'] == len(expected)
    assert info['num_params'] == sum(p.numel() for p in query.parameters()) \
        + sum(b.numel() for n, b in query.named_buffers()
              if not n.endswith('num_batches_tracked'))


def test_export_key_encoder(fake_seco_ckpt, tmp_path):
    src, query, key = fake_seco_ckpt
    out = str(tmp_path / 'key.pth')
    export_backbone(src, out, key_encoder=True)
    state = torch.load(out)['state_dict']
    w = 'layer1.0.conv1.conv.weight'
    assert torch.equal(state[f'backbone.{w}'], key.state_dict()[w])
    assert not torch.equal(state[f'backbone.{w}'], query.state_dict()[w])
    assert len(state) == len(key.state_dict())


def test_torchvision_layout(fake_seco_ckpt, tmp_path):
    src, query, _ = fake_seco_ckpt
    out = str(tmp_path / 'tv.pth')
    export_backbone(src, out, layout='torchvision')
    state = torch.load(out)['state_dict']
    q = query.state_dict()
    pairs = {
        'conv1.weight': 'conv1.conv.weight',
        'bn1.running_var': 'conv1.bn.running_var',
        'layer1.0.conv2.weight': 'layer1.0.conv2.conv.weight',
        'layer1.0.bn2.bias': 'layer1.0.conv2.bn.bias',
        'layer2.0.downsample.0.weight': 'layer2.0.downsample.conv.weight',
        'layer2.0.downsample.1.running_mean':
        'layer2.0.downsample.bn.running_mean',
        'layer4.1.bn1.num_batches_tracked':
        'layer4.1.conv1.bn.num_batches_tracked',
    }
    for tv, mm in pairs.items():
        assert torch.equal(state[tv], q[mm]), tv
    assert len(state) == len(q)
    assert not any(k.startswith('backbone.') or '.conv.' in k or '.bn.' in k
                   for k in state)
    with pytest.raises(SeCoCheckpointError, match='no torchvision'):
        to_torchvision_names({'fc.weight': torch.zeros(1)})


def test_infer_cfg_without_meta(tmp_path, fake_seco_factory):
    from mmaction.models.backbones import ResNet

    path = str(tmp_path / 'nometa.pth')
    fake_seco_factory(path, with_meta=False)
    _, cfg = read_backbone_state(path)
    assert cfg == dict(type='ResNet', depth=18)
    for depth in (34, 50):
        assert infer_resnet_cfg(ResNet(depth=depth).state_dict()) == \
            dict(type='ResNet', depth=depth)


def test_read_backbone_state_accepts_export(fake_seco_ckpt, tmp_path):
    src, query, _ = fake_seco_ckpt
    out = str(tmp_path / 'b.pth')
    export_backbone(src, out)
    state, cfg = read_backbone_state(out)
    assert cfg['depth'] == 18 and set(state) == set(query.state_dict())
    with pytest.raises(SeCoCheckpointError, match='key_encoder needs'):
        read_backbone_state(out, key_encoder=True)


@pytest.fixture
def bad_files(tmp_path, fake_seco_ckpt):
    src = fake_seco_ckpt[0]
    files = {}
    files['text'] = tmp_path / 'notes.pth'
    files['text'].write_text('this is not a checkpoint\n')
    files['truncated'] = tmp_path / 'truncated.pth'
    data = open(src, 'rb').read()
    files['truncated'].write_bytes(data[:len(data) // 2])
    files['missing'] = tmp_path / 'missing.pth'
    files['no_queue'] = tmp_path / 'no_queue.pth'
    sd = torch.load(src)['state_dict']
    torch.save({'state_dict': {k: v for k, v in sd.items() if k != 'queue'}},
               files['no_queue'])
    files['no_backbone'] = tmp_path / 'no_backbone.pth'
    torch.save({'state_dict': {k: v for k, v in sd.items()
                               if not k.startswith('backbone.')}},
               files['no_backbone'])
    files['tensor'] = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(3), files['tensor'])
    return {k: str(v) for k, v in files.items()}


@pytest.mark.parametrize('kind,message', [
    ('text', 'cannot be read by torch.load'),
    ('truncated', 'cannot be read by torch.load'),
    ('missing', 'no such file'),
    ('no_queue', "no 'queue' key"),
    ('no_backbone', "no 'backbone.\\*' keys"),
    ('tensor', 'holds a Tensor'),
])
def test_refuses_non_seco(bad_files, tmp_path, kind, message, capsys):
    path = bad_files[kind]
    with pytest.raises(SeCoCheckpointError, match=message) as err:
        load_seco_checkpoint(path)
    assert path in str(err.value)
    out = str(tmp_path / 'out.pth')
    assert load_tool('export_backbone').main([path, out]) == 2
    assert not osp.exists(out)
    stderr = capsys.readouterr().err
    assert 'not a SeCo checkpoint' in stderr or 'cannot be read' in stderr \
        or 'no such file' in stderr or 'holds a Tensor' in stderr
    assert path in stderr


def test_cli(fake_seco_ckpt, tmp_path, capsys):
    src, query, key = fake_seco_ckpt
    out = str(tmp_path / 'sub' / 'k.pth')
    assert load_tool('export_backbone').main([src, out, '--key-encoder']) == 0
    assert 'key backbone' in capsys.readouterr().out
    state = torch.load(out)['state_dict']
    assert torch.equal(state['backbone.conv1.conv.weight'],
                       key.conv1.conv.weight)


@pytest.mark.slow
def test_real_runner_checkpoint(tmp_path, tiny_videos):
    """Export from a checkpoint mmengine's Runner wrote for configs/seco_r18_demo.py."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    train_list, _, video_root = tiny_videos
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'seco_r18_demo.py'))
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'run'),
        'model.queue_len': 32,
        'train_dataloader.batch_size': 6,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.prefetch_factor': None,
        'train_dataloader.timeout': 0,  # single-process loading
        'train_dataloader.dataset.ann_file': train_list,
        'train_dataloader.dataset.data_prefix.video': video_root,
        'train_cfg.max_epochs': 1,
    })
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(cfg.work_dir, 'epoch_1.pth')
    model = runner.model
    exported = {}
    for key_encoder, module in ((False, model.backbone),
                                (True, model.momentum_encoder.module[0])):
        out = str(tmp_path / f'export_{key_encoder}.pth')
        export_backbone(ckpt, out, key_encoder=key_encoder)
        state = torch.load(out)['state_dict']
        expected = module.state_dict()
        assert set(state) == {f'backbone.{k}' for k in expected}
        for k, v in expected.items():
            assert torch.equal(state[f'backbone.{k}'], v), k
        exported[key_encoder] = state
    # query and key encoders differ after training with momentum < 1
    assert not torch.equal(exported[False]['backbone.conv1.conv.weight'],
                           exported[True]['backbone.conv1.conv.weight'])


def test_name_map_round_trips_both_directions():
    from mmaction.models.backbones import ResNet

    from seco_mm.models.utils.checkpoint_format import (
        from_torchvision_names, mmaction_name, torchvision_name)
    for depth in (18, 50):
        state = ResNet(depth=depth, pretrained=None).state_dict()
        tv = to_torchvision_names(state)
        assert list(from_torchvision_names(tv)) == list(state)
        assert all(mmaction_name(torchvision_name(k)) == k for k in state)
    assert torchvision_name('layer3.1.conv2.bn.running_var') == \
        'layer3.1.bn2.running_var'
    assert mmaction_name('layer2.0.downsample.1.weight') == \
        'layer2.0.downsample.bn.weight'
    assert mmaction_name('fc.weight') is None


def test_every_reader_accepts_both_layouts_and_the_seco_file(
        fake_seco_ckpt, tmp_path):
    from seco_mm.evaluation.feature_svm import build_probe_backbone
    from seco_mm.models.utils.checkpoint_format import read_backbone
    from seco_mm.tracking.apis import check_backbone_file

    src, query, _ = fake_seco_ckpt
    tv = str(tmp_path / 'tv.pth')
    info = export_backbone(src, tv, layout='torchvision')
    assert not osp.exists(tv + '.tmp')  # written atomically
    assert info['backbone_cfg'] == dict(type='ResNet', depth=18)
    weights = read_backbone(tv)
    assert weights.kind == 'torchvision' and weights.cfg['depth'] == 18
    model, probe_info = build_probe_backbone(tv)
    for k, v in query.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    # the tracker loads backbone.* keys: a SeCo checkpoint works as is, the
    # torchvision layout is refused with the export command to use
    cfg = dict(type='ResNet', depth=18, pretrained=None, num_stages=2,
               strides=(1, 2), dilations=(1, 1), out_indices=(1, ))
    assert check_backbone_file(src, cfg)['kind'] == 'seco'
    with pytest.raises(ValueError, match='--layout mmaction'):
        check_backbone_file(tv, cfg)


def test_truncated_backbone_is_inferred_and_built(tmp_path):
    from mmaction.models.backbones import ResNet

    from seco_mm.models.utils.checkpoint_format import load_backbone
    net = ResNet(depth=18, pretrained=None, num_stages=2, strides=(1, 2),
                 dilations=(1, 1), out_indices=(1, ))
    path = str(tmp_path / 'l2.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in net.state_dict().items()}}, path)
    model, weights = load_backbone(path)
    assert weights.cfg == dict(type='ResNet', depth=18, num_stages=2,
                               out_indices=(1, ))
    x = torch.randn(1, 3, 32, 32)
    net.eval()
    torch.testing.assert_close(model(x), net(x))
