"""Exported backbones in mmaction2 models: TSN (2D), ResNet3d (inflated), configs."""
import glob
import logging
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from seco_mm.models.utils.export import export_backbone

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'downstream', '*.py')))


class _Capture(logging.Handler):

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _init_with_log(model):
    """Run model.init_weights(); return what mmengine logged meanwhile."""
    logger = MMLogger.get_current_instance()
    handler = _Capture()
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    return '\n'.join(handler.messages)


def _build(cfg_model):
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    return MODELS.build(cfg_model)


@pytest.fixture(scope='module')
def exports(fake_seco_ckpt, tmp_path_factory):
    src, query, _ = fake_seco_ckpt
    out = tmp_path_factory.mktemp('exports')
    paths = dict(mmaction=str(out / 'mm.pth'), torchvision=str(out / 'tv.pth'))
    for layout, path in paths.items():
        export_backbone(src, path, layout=layout)
    return paths, query


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_configs_build(path):
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.get('pretrained2d') or \
        cfg.model.backbone.pretrained is None  # init_cfg is not replaced
    model = _build(cfg.model)
    head = model.cls_head
    assert head.num_classes == {'ucf101': 101, 'hmdb51': 51,
                                'kinetics400': 400, 'demo': 10}[
        re.search(r'(ucf101|hmdb51|kinetics400|demo)', path).group(1)]
    if 'linear' in path:
        assert cfg.model.backbone.frozen_stages == 4
        assert cfg.model.backbone.norm_eval is True
        assert head.dropout_ratio == 0
    if 'tsn_r50_finetune' in path:  # the paper's protocol
        assert cfg.model.backbone.partial_bn and head.dropout_ratio == 0.9
        assert cfg.optim_wrapper.optimizer.nesterov
        assert cfg.optim_wrapper.optimizer.lr == 1e-3
        assert cfg.optim_wrapper.clip_grad.max_norm == 40
        assert cfg.param_scheduler[0].milestones == [50, 100]
        assert cfg.train_cfg.max_epochs == 150
        sample = cfg.train_dataloader.dataset.pipeline[1]
        assert sample.num_clips == 7 and sample.clip_len == 1
        test = cfg.test_dataloader.dataset.pipeline
        assert test[1].num_clips == 20 and test[4] == dict(type='ThreeCrop',
                                                           crop_size=256)


def test_tsn_loads_export(exports):
    paths, query = exports
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'downstream',
                                   'tsn_r18_linear_demo.py'))
    cfg.model.backbone.init_cfg.checkpoint = paths['mmaction']
    model = _build(cfg.model)
    log = _init_with_log(model)
    assert 'load backbone. in model from' in log
    assert 'missing keys' not in log and 'unexpected key' not in log
    loaded = model.backbone.state_dict()
    assert set(loaded) == set(query.state_dict())
    for k, v in query.state_dict().items():
        assert torch.equal(loaded[k], v), k
    # the frozen backbone still runs: (2 videos x 4 segments) -> 9 scores
    model.eval()
    with torch.no_grad():
        feats = model(torch.randn(2, 4, 3, 64, 64), mode='tensor')
        scores = model.cls_head(feats, num_segs=4)
    assert feats.shape == (8, 512, 2, 2) and scores.shape == (2, 10)


def test_log_capture_sees_missing_keys(exports, tmp_path):
    """Control: the capture above would notice an incomplete export."""
    paths, _ = exports
    saved = torch.load(paths['mmaction'])
    del saved['state_dict']['backbone.layer3.0.conv1.conv.weight']
    broken = str(tmp_path / 'broken.pth')
    torch.save(saved, broken)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'downstream',
                                   'tsn_r18_linear_demo.py'))
    cfg.model.backbone.init_cfg.checkpoint = broken
    log = _init_with_log(_build(cfg.model))
    assert 'missing keys' in log and 'layer3.0.conv1.conv.weight' in log


def _resnet3d(pretrained):
    # the inflation pattern of mmaction2's I3D config, for ResNet-18 blocks
    return _build(dict(
        type='ResNet3d', depth=18, pretrained=pretrained, pretrained2d=True,
        conv1_kernel=(5, 7, 7), conv1_stride_t=2, pool1_stride_t=2,
        conv_cfg=dict(type='Conv3d'), norm_eval=False,
        inflate=((1, 1), (1, 0), (1, 0), (0, 1)), zero_init_residual=False))


def test_resnet3d_inflates_export(exports):
    from mmcv.cnn import ConvModule
    paths, query = exports
    model = _resnet3d(paths['torchvision'])
    log = _init_with_log(model)
    assert 'not exist' not in log and 'mismatch' not in log, log
    assert 'not loaded' not in log, log  # every 2D tensor was used
    q = query.state_dict()
    inflated_t = 0
    for name, m in model.named_modules():
        if not isinstance(m, ConvModule):
            continue
        w3d, w2d = m.conv.weight, q[f'{name}.conv.weight']
        assert w3d.dim() == 5 and w3d.shape[:2] + w3d.shape[3:] == w2d.shape
        # temporal sum of the 3D kernel equals the 2D kernel
        torch.testing.assert_close(w3d.sum(dim=2), w2d, rtol=1e-5, atol=1e-6)
        if w3d.shape[2] > 1:
            inflated_t += 1
            torch.testing.assert_close(w3d[:, :, 0] * w3d.shape[2], w2d)
        for k in ('weight', 'bias', 'running_mean', 'running_var'):
            assert torch.equal(getattr(m.bn, k), q[f'{name}.bn.{k}']), name
    assert inflated_t >= 6  # stem (t=5) and the inflated 3x3x3 convs


def test_resnet3d_needs_torchvision_layout(exports):
    """Control: ResNet3d cannot use the mmaction layout (hence --layout)."""
    paths, query = exports
    model = _resnet3d(paths['mmaction'])
    log = _init_with_log(model)
    assert 'Module not exist in the state_dict_r2d' in log
    assert not torch.allclose(model.conv1.conv.weight.sum(2),
                              query.conv1.conv.weight)


def test_random_init_baseline_option():
    """--cfg-options model.backbone.init_cfg=None gives mmaction2's default
    random init (Kaiming fan-out convs, BN weight 1), no checkpoint read."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'downstream',
                                   'tsn_r18_linear_demo.py'))
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    torch.manual_seed(0)
    model = _build(cfg.model)
    model.init_weights()  # the default checkpoint path does not exist
    conv = model.backbone.layer3[0].conv1
    fan_out = conv.conv.weight.shape[0] * 9
    assert conv.conv.weight.std().item() == pytest.approx(
        (2 / fan_out) ** 0.5, rel=0.05)
    assert torch.equal(conv.bn.weight, torch.ones_like(conv.bn.weight))


def test_demo_configs_read_the_backbone_make_demo_writes():
    """`make demo` (tools/run_demo.py, default --work-dir) exports to
    work_dirs/demo/seco_r18_backbone.pth: the demo configs read that file."""
    from tests.conftest import load_tool
    run_demo = load_tool('run_demo')
    work = run_demo.parse_args([]).work_dir
    source = open(osp.join(ROOT, 'tools', 'run_demo.py')).read()
    name = re.search(r"osp\.join\(work, '([^']+_backbone\.pth)'\)",
                     source).group(1)
    expected = osp.join(work, name)
    assert expected == 'work_dirs/demo/seco_r18_backbone.pth'
    for config in ('tsn_r18_linear_demo.py', 'tsn_r18_finetune_demo.py'):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'downstream', config))
        assert cfg.model.backbone.init_cfg.checkpoint == expected, config


def test_config_headers_name_files_the_tools_write():
    """Paths in config headers are the ones the documented commands write:
    no stale names such as seco/epoch_12.pth or a bare backbone.pth."""
    for path in CONFIGS:
        header = open(path).read().split('_base_')[0]
        assert 'epoch_12.pth' not in header, path
        assert 'work_dirs/demo/backbone.pth' not in header, path
        assert 'DESIGN.md' not in open(path).read(), path
        for ckpt in re.findall(r'(work_dirs/\S+\.pth)', header):
            assert ckpt.startswith(('work_dirs/demo/',
                                    'work_dirs/seco_r50_kinetics/',
                                    'work_dirs/tsn_r50_')), (path, ckpt)
