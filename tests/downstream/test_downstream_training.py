"""The demo downstream configs train with tools/train.py from an export.

Linear: the frozen backbone (weights and BN statistics) is bit-identical to
the exported one after real training steps while the head moved. Fine-tune:
partial BN: only the first BN learns, every other BN keeps weights and
statistics, convolutions learn.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from seco_mm.models.utils.export import export_backbone

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _train(config, work_dir, backbone, videos, max_epochs=1):
    train_list, val_list, video_root = videos
    opts = [
        f'model.backbone.init_cfg.checkpoint={backbone}',
        'model.cls_head.num_classes=3',
        f'train_dataloader.dataset.ann_file={train_list}',
        f'train_dataloader.dataset.data_prefix.video={video_root}',
        f'val_dataloader.dataset.ann_file={val_list}',
        f'val_dataloader.dataset.data_prefix.video={video_root}',
        'train_dataloader.batch_size=6', 'train_dataloader.num_workers=0',
        'val_dataloader.num_workers=0', f'train_cfg.max_epochs={max_epochs}',
        f'train_cfg.val_interval={max_epochs}',
        f'param_scheduler.0.end={max_epochs}',
    ]
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
           osp.join(ROOT, 'configs', 'downstream', config),
           '--work-dir', str(work_dir), '--cfg-options', *opts]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(osp.join(work_dir, f'epoch_{max_epochs}.pth'),
                      map_location='cpu')
    return ckpt['state_dict'], proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def exported(fake_seco_ckpt, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('export') / 'backbone.pth')
    export_backbone(fake_seco_ckpt[0], out)
    return out, torch.load(out)['state_dict']


@pytest.mark.slow
def test_linear_demo_keeps_backbone_frozen(exported, tiny_videos, tmp_path):
    path, before = exported
    after, log = _train('tsn_r18_linear_demo.py', tmp_path, path, tiny_videos)
    assert 'acc/top1' in log  # validation ran
    for k, v in before.items():  # weights and BN running statistics
        assert torch.equal(after[k], v), k
    assert after['cls_head.fc_cls.bias'].abs().sum() > 0  # init was 0
    assert after['cls_head.fc_cls.weight'].shape == (3, 512)


@pytest.mark.slow
def test_finetune_demo_partial_bn(exported, tiny_videos, tmp_path):
    path, before = exported
    after, _ = _train('tsn_r18_finetune_demo.py', tmp_path, path, tiny_videos)
    first = 'backbone.conv1.bn.'
    for k, v in before.items():
        if k.endswith('num_batches_tracked'):
            continue
        if k.startswith(first) or k.endswith('.conv.weight'):
            assert not torch.equal(after[k], v), f'{k} did not learn'
        else:  # every BN but the first: frozen affine and statistics
            assert torch.equal(after[k], v), f'{k} changed'
