"""Fixtures for downstream tests: a faithful fake SeCo checkpoint, tiny videos.

The fake checkpoint has the key layout SeCo training writes (query ResNet under
``backbone.``, an EMA copy under ``momentum_encoder.module.0.``, heads, a
random queue) built from real mmaction2 modules, saved like mmengine does.
"""
import copy
import os
import os.path as osp

import numpy as np
import pytest
import torch

import seco_mm  # noqa: F401  (compat before mmaction.models)
from tools.demo_data.writers import write_mp4


def make_fake_seco_checkpoint(path, depth=18, queue_len=64, with_meta=True):
    """Save a SeCo-layout checkpoint; return (query ResNet, key ResNet)."""
    from mmaction.models.backbones import ResNet

    torch.manual_seed(0)
    query = ResNet(depth=depth)
    query.init_weights()
    # give BN stats and weights non-trivial values so equality checks bite
    for m in query.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.num_batches_tracked.fill_(7)
    key = copy.deepcopy(query)
    with torch.no_grad():
        for p in key.parameters():
            p.add_(0.01 * torch.randn_like(p))
    dim = query.feat_dim
    neck = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.ReLU(),
                               torch.nn.Linear(dim, 128))
    state = {}
    state.update({f'backbone.{k}': v for k, v in query.state_dict().items()})
    state.update({f'neck.{k}': v for k, v in neck.state_dict().items()})
    state.update({'order_head.fc.weight': torch.randn(2, 384),
                  'order_head.fc.bias': torch.zeros(2)})
    state.update({f'momentum_encoder.module.0.{k}': v
                  for k, v in key.state_dict().items()})
    state.update({f'momentum_encoder.module.1.{k}': v.clone()
                  for k, v in neck.state_dict().items()})
    state['momentum_encoder.steps'] = torch.tensor([12])
    state['queue'] = torch.nn.functional.normalize(
        torch.randn(queue_len, 128), dim=1)
    state['queue_ptr'] = torch.zeros(1, dtype=torch.long)
    meta = dict(epoch=1, iter=12, mmengine_version='0.10.7',
                seed=np.int64(0))  # numpy scalars as mmengine writes them
    if with_meta:
        meta['seco_backbone_cfg'] = dict(type='ResNet', depth=depth)
    torch.save(dict(meta=meta, state_dict=state, optimizer={}), path)
    return query, key


@pytest.fixture(scope='session')
def fake_seco_factory():
    """``make_fake_seco_checkpoint`` for tests that need their own variant."""
    return make_fake_seco_checkpoint


@pytest.fixture(scope='session')
def fake_seco_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('seco') / 'seco_r18.pth')
    query, key = make_fake_seco_checkpoint(path)
    return path, query, key


def write_video(path, frames):
    """Write (T, H, W, 3) uint8 RGB frames as an mp4v file at 10 fps."""
    write_mp4(path, frames, fps=10)


def make_video_set(root, num_classes=3, per_class=(6, 4), num_frames=12,
                   size=64, seed=0):
    """Tiny labelled video set in mmaction2's VideoDataset layout.

    Class c shows a square of colour c moving in direction c over noise, so
    even random conv features separate the classes. Returns
    (train_list, val_list, video_root).
    """
    rng = np.random.RandomState(seed)
    colours = np.random.RandomState(1234).randint(80, 256, (num_classes, 3))
    colours = colours.astype(np.uint8)
    video_root = osp.join(root, 'videos')
    lines = {'train': [], 'val': []}
    for c in range(num_classes):
        os.makedirs(osp.join(video_root, f'class{c}'), exist_ok=True)
        for split, n in zip(('train', 'val'), per_class):
            for i in range(n):
                frames = rng.randint(0, 60, (num_frames, size, size, 3))
                frames = frames.astype(np.uint8)
                x0, y0 = rng.randint(8, size - 24, 2)
                for t in range(num_frames):
                    dx = (t if c % 2 == 0 else -t)
                    x = int(np.clip(x0 + dx, 0, size - 16))
                    frames[t, y0:y0 + 16, x:x + 16] = colours[c]
                rel = f'class{c}/{split}_{i}.mp4'
                write_video(osp.join(video_root, rel), frames)
                lines[split].append(f'{rel} {c}')
    out = []
    for split in ('train', 'val'):
        path = osp.join(root, f'{split}.txt')
        with open(path, 'w') as f:
            f.write('\n'.join(lines[split]) + '\n')
        out.append(path)
    return out[0], out[1], video_root


@pytest.fixture(scope='session')
def tiny_videos(tmp_path_factory):
    return make_video_set(str(tmp_path_factory.mktemp('videos')))
