"""Mixed precision (MixedPrecisionOptimWrapper, --amp) and channels-last.

Numerics: SeCo trained for N steps in float32 and in bfloat16 autocast from
the same seed and the same batches keeps its losses within a stated
tolerance; the loss heads and the queue stay float32 under autocast.
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS, OPTIM_WRAPPERS
from mmaction.structures import ActionDataSample
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope

from seco_mm.engine import (MixedPrecisionOptimWrapper, mixed_precision,
                            resolve_precision, to_channels_last)
from seco_mm.models.heads import InterFrameHead, IntraFrameHead, OrderHead
from tests.conftest import moving_square_frames, tiny_seco_model_cfg

BF16 = torch.bfloat16


def _model(seed=0, **kw):
    init_default_scope('mmaction')
    torch.manual_seed(seed)
    m = MODELS.build(tiny_seco_model_cfg(**kw))
    m.init_weights()
    return m.train()


def _batches(n, batch=4, size=32, seed=0):
    """n pseudo-collated SeCo batches of real-looking frames (moving
    textured squares, a different crop per view), fixed by ``seed``."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        inputs, samples = [], []
        for _ in range(batch):
            frames = moving_square_frames(int(rng.randint(1000)),
                                          num_frames=8, size=size + 16)
            views = []
            for _ in range(4):
                t, y, x = rng.randint(8), rng.randint(17), rng.randint(17)
                views.append(frames[t, y:y + size, x:x + size])
            inputs.append(torch.from_numpy(
                np.stack(views).transpose(0, 3, 1, 2).copy()))
            s = ActionDataSample()
            s.set_field(int(rng.randint(2)), 'seco_order')
            samples.append(s)
        out.append(dict(inputs=inputs, data_samples=samples))
    return out


def _wrapper(model, kind, lr=0.05):
    sgd = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9,
                          weight_decay=1e-4)
    if kind == 'fp32':
        return OptimWrapper(optimizer=sgd)
    return OPTIM_WRAPPERS.build(dict(type='MixedPrecisionOptimWrapper',
                                     optimizer=sgd))


# ---------------------------------------------------------------- config --
def test_resolve_precision_per_device():
    assert resolve_precision('cpu') == (BF16, None)
    assert resolve_precision('cpu', 'bfloat16', None) == (BF16, None)
    assert resolve_precision('cuda') == (torch.float16, 'dynamic')
    assert resolve_precision('cuda', 'float16', 512.0) == (torch.float16,
                                                          512.0)
    with pytest.raises(ValueError, match=r'optim_wrapper\.dtype.*bfloat16 '
                       'only'):
        resolve_precision('cpu', 'float16')
    with pytest.raises(ValueError, match=r'optim_wrapper\.loss_scale'):
        resolve_precision('cpu', 'auto', 'dynamic')
    with pytest.raises(ValueError, match=r"optim_wrapper\.dtype must be "
                       "'auto'"):
        resolve_precision('cpu', 'fp8')
    with pytest.raises(ValueError, match='cpu and cuda'):
        resolve_precision('mps')


def test_cpu_wrapper_autocasts_bf16_without_scaler():
    model = _model()
    ow = _wrapper(model, 'amp')
    assert isinstance(ow, MixedPrecisionOptimWrapper)
    assert ow.device_type == 'cpu' and ow.cast_dtype == BF16
    assert ow.loss_scaler is None
    assert not torch.is_autocast_enabled('cpu')
    with ow.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == BF16
        y = model.backbone(torch.randn(2, 3, 32, 32))
    assert y.dtype == BF16
    assert not torch.is_autocast_enabled('cpu')
    state = ow.state_dict()
    assert 'loss_scaler' not in state and 'state' in state
    # a checkpoint of a CUDA float16 run (with a scaler) resumes on CPU
    state['loss_scaler'] = dict(scale=65536.0, growth_factor=2.0)
    ow.load_state_dict(state)
    with pytest.raises(ValueError, match=r'optim_wrapper\.dtype'):
        OPTIM_WRAPPERS.build(dict(
            type='MixedPrecisionOptimWrapper', dtype='float16',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))


def test_mixed_precision_context_for_inference():
    conv = torch.nn.Conv2d(3, 4, 3)
    with torch.no_grad(), mixed_precision('cpu'):
        assert conv(torch.randn(1, 3, 8, 8)).dtype == BF16
    with torch.no_grad(), mixed_precision('cpu', enabled=False):
        assert conv(torch.randn(1, 3, 8, 8)).dtype == torch.float32


# ------------------------------------------------------- float32 heads --
def _unit(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def test_heads_compute_in_float32_under_autocast():
    """bf16 embeddings in, float32 losses out, equal to the float32
    computation on the same (upcast) values; without the float32 guard the
    queue similarities would be bf16 matmuls and differ by ~1e-2."""
    B, D, K = 8, 16, 512
    q = _unit(B, D, seed=0).to(BF16)
    keys = _unit(3, B, D, seed=1).to(BF16)
    queue = _unit(K, D, seed=2)  # the float32 queue buffer
    heads = dict(inter=InterFrameHead(), intra=IntraFrameHead(),
                 order=OrderHead(in_channels=D))
    order = torch.tensor([0, 1] * (B // 2))
    calls = dict(inter=(q, keys, queue), intra=(q, keys[0], keys[1:]),
                 order=(q, keys[1], keys[2], order))
    for name, head in heads.items():
        ref = head.loss(*[a.float() if a.is_floating_point() else a
                          for a in calls[name]])
        with torch.autocast('cpu', dtype=BF16):
            got = head.loss(*calls[name])
        loss = got[f'loss_{name}']
        assert loss.dtype == torch.float32, name
        torch.testing.assert_close(loss, ref[f'loss_{name}'], rtol=0,
                                   atol=1e-6)
    # the guard matters: the same InfoNCE with bf16 matmuls is off
    with torch.autocast('cpu', dtype=BF16):
        neg = q.float() @ queue.t() / 0.1
    assert neg.dtype == BF16
    exact = q.float() @ queue.t() / 0.1
    assert (neg.float() - exact).abs().max() > 1e-3


def test_train_step_under_amp_keeps_loss_and_queue_float32():
    model = _model()
    ow = _wrapper(model, 'amp')
    seen = []
    model.backbone.register_forward_hook(
        lambda m, a, out: seen.append(out.dtype))
    batch = _batches(1)[0]
    log = model.train_step(batch, ow)
    assert BF16 in seen  # the encoders did run in bf16
    assert model.queue.dtype == torch.float32
    assert model.queue.is_contiguous()
    for p in model.parameters():
        assert p.dtype == torch.float32
    # the enqueued keys are the (bf16-rounded) inter keys, stored float32
    assert int(model.queue_ptr) == 3 * 4
    norms = model.queue[:12].norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(12), atol=1e-2, rtol=0)
    # the loss the optimizer saw is float32 (LogProcessor gets floats)
    with ow.optim_context(model):
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
    for k in ('loss_inter', 'loss_intra', 'loss_order'):
        assert losses[k].dtype == torch.float32, k
        assert np.isfinite(float(log[k]))


# Tolerance of bf16 vs fp32 training, stated: over N = 8 SGD steps (lr
# 0.01, momentum 0.9; R18, 64 px, batch 8) from the same weights and
# batches, every step's total loss and loss_inter are within 3 % (relative)
# of the float32 run's, and the mean over the N steps of each term within
# 0.03 (absolute). Per step, loss_intra / loss_order of 16 / 8 rows are
# too noisy to compare one by one (seen: up to 0.12 apart at step 8 while
# their means agree to 0.005). bfloat16 keeps 8 mantissa bits: the R18
# features differ from float32 ones by ~4 % (relative norm), embeddings by
# cosine ~0.99.
N_STEPS, REL_TOL, MEAN_TOL = 8, 0.03, 0.03
TERMS = ('loss', 'loss_inter', 'loss_intra', 'loss_order')


@pytest.mark.slow  # trains two models side by side
def test_bf16_training_tracks_fp32_losses():
    # 64 px, batch 8: at 32 px ResNet-18's last stage is 1x1 and train-mode
    # BN over 4 values amplifies any rounding (bf16 backbone features then
    # differ by 12 % instead of 4 %), a regime no real config trains in
    batches = _batches(N_STEPS, batch=8, size=64, seed=1)
    base = _model(seed=3, queue_len=64)
    curves = {}
    for kind in ('fp32', 'amp'):
        model = copy.deepcopy(base)
        ow = _wrapper(model, kind, lr=0.01)
        curve = []
        for step, batch in enumerate(batches):
            # same key shuffle across split-BN groups in both runs
            torch.manual_seed(100 + step)
            log = model.train_step(batch, ow)
            model.momentum_update(0.99)
            curve.append({k: float(log[k]) for k in TERMS})
        curves[kind] = curve
    fp32, bf16 = curves['fp32'], curves['amp']
    for step, (a, b) in enumerate(zip(fp32, bf16)):
        for k in ('loss', 'loss_inter'):
            assert abs(b[k] - a[k]) <= REL_TOL * a[k], (step, k, a[k], b[k])
    for k in TERMS:
        mean_a = np.mean([c[k] for c in fp32])
        mean_b = np.mean([c[k] for c in bf16])
        assert abs(mean_a - mean_b) <= MEAN_TOL, (k, mean_a, mean_b)
    # the runs did train (the weights moved) and are not the same run
    assert fp32[0]['loss'] != fp32[-1]['loss']
    assert all(a['loss'] != b['loss'] for a, b in zip(fp32, bf16))


# --------------------------------------------------------- channels-last --
def _is_cl(t):
    fmt = torch.channels_last if t.dim() == 4 else torch.channels_last_3d
    return t.is_contiguous(memory_format=fmt)


def test_to_channels_last_converts_seco_and_keeps_the_math():
    # no split BN: train-mode BN over groups of 2 samples of 1x1 maps would
    # amplify the float32 reordering this test tolerates
    model = _model(split_bn_groups=1)
    ref = copy.deepcopy(model)
    params = list(model.parameters())
    counts = to_channels_last(model)
    assert list(model.parameters()) == params  # same Parameter objects
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert counts == dict(conv2d=len(convs), conv3d=0)
    assert len(convs) == 2 * 20  # query and key R18s
    for conv in convs:
        assert _is_cl(conv.weight)
    stem = model.backbone.conv1.conv.weight
    assert stem.shape[1] == 3 and not stem.is_contiguous()
    x = torch.randn(2, 3, 64, 64)  # NCHW input, channels-last activations
    out = model.backbone(x)
    assert out.shape[-1] == 2 and _is_cl(out) and not out.is_contiguous()
    # same math, other summation order: float32 rounding only
    torch.testing.assert_close(out, ref.backbone(x), rtol=1e-3, atol=1e-4)
    assert to_channels_last(model) == counts  # idempotent
    batch = _batches(1)[0]
    torch.manual_seed(0)  # same split-BN key shuffle in both steps
    log = model.train_step(copy.deepcopy(batch), _wrapper(model, 'fp32'))
    torch.manual_seed(0)
    log_ref = ref.train_step(copy.deepcopy(batch), _wrapper(ref, 'fp32'))
    torch.testing.assert_close(log, log_ref, rtol=1e-3, atol=1e-3)


def test_channels_last_for_mmaction_recognizers():
    init_default_scope('mmaction')
    tsn = MODELS.build(dict(
        type='Recognizer2D',
        backbone=dict(type='ResNet', depth=18, pretrained=None),
        cls_head=dict(type='TSNHead', num_classes=3, in_channels=512),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCHW'))).eval()
    ref = copy.deepcopy(tsn)
    assert to_channels_last(tsn)['conv2d'] == 20
    x = torch.randn(2, 3, 3, 32, 32)  # (N, segments, C, H, W)
    torch.testing.assert_close(tsn(x, mode='tensor'), ref(x, mode='tensor'),
                               rtol=1e-3, atol=1e-4)
    net3d = torch.nn.Sequential(torch.nn.Conv3d(3, 16, 3),
                                torch.nn.Conv3d(16, 16, 3))
    assert to_channels_last(net3d) == dict(conv2d=0, conv3d=2)
    assert _is_cl(net3d[0].weight) and _is_cl(net3d[1].weight)
    out = net3d(torch.randn(2, 3, 10, 18, 18))
    assert _is_cl(out) and not out.is_contiguous()


def _head_bf16_safe():
    from mmaction.models.heads.base import BaseHead
    return getattr(BaseHead.loss_by_feat, '_seco_bf16_safe', False)


# mmaction2 1.2 BaseHead.loss_by_feat calls `cls_scores.cpu().numpy()` for
# its top-k accuracy, and numpy has no bfloat16: recognizers under CPU bf16
# autocast raise TypeError until seco_mm.compat casts the scores to float32
# (docs/performance.md, "Known limits"). strict: the marker must go when
# the compat fix lands.
@pytest.mark.xfail(not _head_bf16_safe(), raises=TypeError, strict=True,
                   reason='mmaction2 BaseHead.loss_by_feat: numpy of bf16')
@pytest.mark.parametrize('config', [
    'configs/downstream/tsn_r18_finetune_demo.py',
    'configs/downstream/tsn_r50_finetune_ucf101_split1.py'])
def test_amp_on_downstream_finetuning_configs(config):
    """--amp turns the fine-tuning configs' wrapper (SGD, gradient clip 40)
    into MixedPrecisionOptimWrapper; a TSN step runs in bf16 and clips."""
    import os.path as osp

    from mmengine.config import Config

    from tests.conftest import ROOT, load_tool
    train_tool = load_tool('train')
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg = train_tool.merge_args(cfg, train_tool.parse_args(
        [config, '--amp', '--work-dir', '/tmp/unused']))
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    init_default_scope('mmaction')
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone'].update(depth=18, init_cfg=None, pretrained=None)
    model_cfg['cls_head'].update(in_channels=512)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).train()
    ow = build_optim_wrapper(model, cfg.optim_wrapper)  # as the Runner
    assert ow.clip_grad_kwargs['max_norm'] == 40 and ow.loss_scaler is None
    seen = []
    model.backbone.register_forward_hook(
        lambda m, a, out: seen.append(out.dtype))
    batch = dict(inputs=[torch.randint(0, 256, (3, 3, 32, 32),
                                       dtype=torch.uint8)] * 2,
                 data_samples=[ActionDataSample().set_gt_label(i)
                               for i in (0, 1)])
    before = model.cls_head.fc_cls.weight.detach().clone()
    log = model.train_step(batch, ow)
    assert seen == [BF16]
    assert np.isfinite(float(log['loss']))
    assert not torch.equal(before, model.cls_head.fc_cls.weight)


# ------------------------------------------------------------- Runner --
@pytest.mark.slow
def test_train_tool_amp_and_channels_last_through_the_runner(
        tiny_video_dir, tmp_path):
    """`tools/train.py --amp` with ChannelsLastHook trains SeCo through the
    Runner on CPU (bf16), checkpoints without a loss scaler, and a float32
    run resumes from that checkpoint."""
    from mmengine.runner import Runner

    from tests.conftest import load_tool
    from tests.e2e.runner_utils import tiny_runner_cfg
    train_tool = load_tool('train')
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path, max_epochs=1)
    cfg.custom_hooks.append(dict(type='ChannelsLastHook'))
    args = train_tool.parse_args(['x.py', '--amp', '--work-dir',
                                  str(tmp_path)])
    cfg = train_tool.merge_args(cfg, args)
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    runner = Runner.from_cfg(cfg)
    seen = []
    runner.model.backbone.layer1.register_forward_hook(
        lambda m, a, out: seen.append((out.dtype, out.is_contiguous(
            memory_format=torch.channels_last))))
    runner.train()
    assert isinstance(runner.optim_wrapper, MixedPrecisionOptimWrapper)
    assert seen and all(s == (BF16, True) for s in seen)
    assert runner.model.queue.dtype == torch.float32
    ckpt = torch.load(tmp_path / 'epoch_1.pth', map_location='cpu',
                      weights_only=False)
    assert 'loss_scaler' not in ckpt['optimizer']
    assert ckpt['state_dict']['queue'].dtype == torch.float32
    assert torch.isfinite(ckpt['state_dict']['queue']).all()
    # float32 resume of the bf16 / channels-last checkpoint
    cfg2 = tiny_runner_cfg(tiny_video_dir, tmp_path, max_epochs=2)
    cfg2.resume, cfg2.load_from = True, str(tmp_path / 'epoch_1.pth')
    resumed = Runner.from_cfg(cfg2)
    resumed.train()
    assert resumed.iter == 8 and int(resumed.model.queue_ptr) == 0
