"""KNNMonitorHook: known k-NN answers, sharding, state left untouched."""
import glob
import json
import math
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import HOOKS, MODELS
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import init_default_scope

from seco_mm.engine.hooks.knn_monitor_hook import (KNNMonitorHook,
                                                   knn_classify,
                                                   retrieval_recall,
                                                   shard_indices, unshard)
from tests.conftest import tiny_seco_model_cfg


def unit(deg):
    rad = torch.tensor([math.radians(d) for d in deg])
    return torch.stack([rad.cos(), rad.sin()], dim=1)


# bank: class 0 at 0/10/20 deg, class 1 at 90/100 deg, class 2 at 180 deg
BANK = unit([0, 10, 20, 90, 100, 180])
BANK_Y = torch.tensor([0, 0, 0, 1, 1, 2])
# queries: 5 deg (class 0), 61 deg (class 0, but nearer the class-1 items),
# 170 deg (class 2: one very close class-2 item, two far class-1 items)
QUERY = unit([5, 61, 170])
QUERY_Y = torch.tensor([0, 0, 2])


def test_weighted_knn_on_hand_made_features():
    # k = 3, T = 0.07: query 0 -> all three neighbours class 0; query 1 ->
    # neighbours 90 (c1), 100 (c1), 20 (c0) -> class 1 (wrong); query 2 ->
    # 180 (c2, cos 0.985) outweighs 100 and 90 (c1, cos 0.34, 0.17):
    # exp(0.985 / 0.07) >> exp(0.342 / 0.07) + exp(0.174 / 0.07)
    pred = knn_classify(QUERY, BANK, BANK_Y, num_classes=3, k=3,
                        temperature=0.07)
    assert pred.tolist() == [0, 1, 2]
    # a flat vote (T large) lets the two class-1 neighbours win query 2
    flat = knn_classify(QUERY, BANK, BANK_Y, num_classes=3, k=3,
                        temperature=10.0)
    assert flat.tolist() == [0, 1, 1]
    # k = 1 is the nearest neighbour's label; k > bank size is clipped
    assert knn_classify(QUERY, BANK, BANK_Y, 3, k=1).tolist() == [0, 1, 2]
    assert knn_classify(QUERY, BANK, BANK_Y, 3, k=50).shape == (3, )


def test_retrieval_recall_on_hand_made_features():
    r = retrieval_recall(QUERY, BANK, QUERY_Y, BANK_Y, ks=(1, 3, 5))
    # top-1: 0 deg (hit), 90 deg (miss), 180 deg (hit)
    assert r[1] == pytest.approx(2 / 3)
    # query 1's top 3 holds 20 deg (class 0)
    assert r[3] == pytest.approx(1.0) and r[5] == pytest.approx(1.0)


def test_hook_metric_values_in_percent():
    hook = KNNMonitorHook(train_dataset={}, val_dataset={}, k=3,
                          recall_ks=(1, 5))
    out = hook.compute(BANK, BANK_Y, QUERY, QUERY_Y)
    assert out == pytest.approx({'knn/top1': 200 / 3, 'knn/R@1': 200 / 3,
                                 'knn/R@5': 100.0})


@pytest.mark.parametrize('world', [1, 2, 3, 4])
@pytest.mark.parametrize('num', [1, 5, 7, 8])
def test_sharding_round_trip(world, num):
    data = torch.arange(num * 2, dtype=torch.float32).view(num, 2)
    shards = [shard_indices(num, r, world) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # equal lengths to gather
    covered = sorted({i for s in shards for i in s})
    assert covered == list(range(num))  # every clip embedded by some rank
    torch.testing.assert_close(unshard([data[s] for s in shards], num), data)


def test_bad_arguments_name_the_key():
    with pytest.raises(ValueError, match='KNNMonitorHook.interval'):
        KNNMonitorHook(train_dataset={}, val_dataset={}, interval=0)
    with pytest.raises(ValueError, match='KNNMonitorHook.k '):
        KNNMonitorHook(train_dataset={}, val_dataset={}, k=0)
    with pytest.raises(ValueError, match='KNNMonitorHook.temperature'):
        KNNMonitorHook(train_dataset={}, val_dataset={}, temperature=0)


# ------------------------------------------------- on real (tiny) videos
def clip_dataset(video_dir, num_frames=3, size=32):
    return dict(
        type='VideoDataset', ann_file=str(video_dir / 'train.txt'),
        data_prefix=dict(video=str(video_dir)), test_mode=True,
        pipeline=[
            dict(type='DecordInit', io_backend='disk'),
            dict(type='SampleFrames', clip_len=1, frame_interval=1,
                 num_clips=num_frames, test_mode=True),
            dict(type='DecordDecode'),
            dict(type='Resize', scale=(size, size), keep_ratio=False),
            dict(type='FormatShape', input_format='NCHW'),
            dict(type='PackActionInputs'),
        ])


class RecordingVisualizer:
    def __init__(self):
        self.calls = []

    def add_scalars(self, scalars, step=0, **kwargs):
        self.calls.append((dict(scalars), step))


def fake_runner(model, epoch=0, it=0):
    return SimpleNamespace(
        model=model, epoch=epoch, iter=it,
        message_hub=MessageHub.get_instance('knn_hook_test'),
        visualizer=RecordingVisualizer(),
        logger=MMLogger.get_instance('knn_hook_test'))


def test_hook_on_videos_restores_the_training_state(tiny_video_dir):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(tiny_seco_model_cfg())
    model.init_weights()
    model.train()
    model.momentum_encoder.eval()  # a module kept in eval on purpose
    modes = {n: m.training for n, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hook = HOOKS.build(dict(
        type='KNNMonitorHook', train_dataset=clip_dataset(tiny_video_dir),
        val_dataset=clip_dataset(tiny_video_dir), k=1, batch_size=3))
    runner = fake_runner(model, epoch=0, it=0)

    torch.manual_seed(123)
    np.random.seed(7)
    hook.before_train(runner)  # at_start: evaluates the initial backbone
    after_torch, after_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(7)
    torch.testing.assert_close(after_torch, torch.rand(3))  # RNG untouched
    np.testing.assert_array_equal(after_np, np.random.rand(3))

    assert {n: m.training for n, m in model.named_modules()} == modes
    for k, v in model.state_dict().items():  # incl. BN running stats
        assert torch.equal(v, state[k]), k

    [(scalars, step)] = runner.visualizer.calls
    assert step == 0 and scalars['knn/epoch'] == 0
    # val = train: each clip retrieves itself (cosine 1), so with k = 1
    # top-1 and R@1 are exact
    assert scalars['knn/top1'] == pytest.approx(100.0)
    assert scalars['knn/R@1'] == pytest.approx(100.0)
    assert scalars['knn/seconds'] > 0
    assert runner.message_hub.get_scalar('knn/top1').current() == \
        pytest.approx(100.0)

    # the features are frame-mean pooled backbone features of the clips
    model.backbone.eval()
    feats, labels = hook._embed(model, model.backbone, 'val')
    assert feats.shape == (8, 512) and labels.tolist() == [0, 1] * 4
    batch = [hook._datasets['val'][i] for i in range(8)]
    frames = torch.stack([b['inputs'] for b in batch]).float()  # (8,3,..)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 1, 3, 1, 1)
    with torch.no_grad():
        out = model.backbone(((frames - mean) / std).flatten(0, 1))
    model.train()
    ref = F.normalize(out.mean(dim=(2, 3)).view(8, 3, -1).mean(1), dim=1)
    torch.testing.assert_close(feats, ref, rtol=1e-4, atol=1e-5)

    # interval: epochs 2 and 4 of 4 (and the last one)
    hook2 = KNNMonitorHook(train_dataset=clip_dataset(tiny_video_dir),
                           val_dataset=clip_dataset(tiny_video_dir),
                           interval=2, at_start=False)
    hook2._datasets, hook2._cache = hook._datasets, hook._cache
    runner2 = fake_runner(model)
    runner2.train_loop = SimpleNamespace(max_epochs=4)
    runner2.max_epochs = 4
    for epoch in range(4):
        runner2.epoch = epoch
        hook2.after_train_epoch(runner2)
    assert [c[0]['knn/epoch'] for c in runner2.visualizer.calls] == [2, 4]


@pytest.mark.slow
def test_training_trajectory_is_unchanged_by_the_hook(tiny_video_dir,
                                                      tmp_path):
    """Same seed, 2 epochs (8 iterations) through the Runner with and without
    the monitor: every weight and buffer ends bit-identical, and the k-NN
    scalars reach scalars.json."""
    from mmengine.runner import Runner

    from tests.e2e.runner_utils import tiny_runner_cfg

    def run(work, with_hook):
        cfg = tiny_runner_cfg(tiny_video_dir, tmp_path / work, max_epochs=2)
        if with_hook:
            cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(
                type='KNNMonitorHook', interval=1, k=3,
                train_dataset=clip_dataset(tiny_video_dir),
                val_dataset=clip_dataset(tiny_video_dir))]
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner

    plain = run('plain', False)
    monitored = run('monitored', True)
    a, b = plain.model.state_dict(), monitored.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    files = glob.glob(osp.join(monitored.work_dir, '*', 'vis_data',
                               'scalars.json'))
    records = [json.loads(line) for f in files for line in open(f)]
    knn = [r for r in records if 'knn/top1' in r]
    assert [r['knn/epoch'] for r in knn] == [0, 1, 2]
    assert [r['step'] for r in knn] == [0, 4, 8]
