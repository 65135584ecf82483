"""Each upstream defect handled by seco_mm.compat is real, and is handled.

The "defect is real" halves run in a fresh interpreter without seco_mm, so
they fail if upstream ever fixes the defect (then the workaround can go).
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from seco_mm import compat


class Evil:
    """An arbitrary class: weights_only loading must refuse it."""


class AttrGrab:
    """Pickles as getattr(np.ndarray, 'tofile'): must be refused."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def _python(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow  # fresh interpreters importing mmaction
def test_defect1_missing_drn_is_real_and_patched():
    bare = _python('import mmaction.models')
    assert bare.returncode != 0
    assert "No module named 'mmaction.models.localizers.drn'" in bare.stderr
    fixed = _python(
        'import seco_mm, mmaction.models\n'
        'from mmaction.models.localizers import DRN, BMN\n'
        'from mmaction.registry import MODELS\n'
        'assert MODELS.get("BMN") is BMN and MODELS.get("DRN") is None\n'
        'try:\n    DRN()\nexcept ImportError as e:\n    print("DRN:", e)\n')
    assert fixed.returncode == 0, fixed.stderr
    assert 'does not ship mmaction.models.localizers.drn' in fixed.stdout


def _checkpoint_with_mmengine_objects(path):
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    torch.save({'state_dict': {'w': torch.ones(2)},
                'message_hub': {'log_scalars': {'loss': buf}},
                'meta': {'seed': np.int64(3), 'arr': np.arange(3),
                         'f': np.float32(0.5)}}, path)


@pytest.mark.slow  # a fresh interpreter
def test_defect3_weights_only_load_is_real_and_allow_listed(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _checkpoint_with_mmengine_objects(path)
    bare = _python(f'import torch; torch.load({path!r})')
    assert bare.returncode != 0 and 'HistoryBuffer' in bare.stderr
    compat.allow_mmengine_pickles()
    ckpt = torch.load(path)  # weights_only=True is torch's default here
    assert ckpt['message_hub']['log_scalars']['loss'].current() == 1.5
    assert ckpt['meta']['seed'] == 3
    # arbitrary objects are still refused
    torch.save({'x': Evil()}, str(tmp_path / 'evil.pth'))
    with pytest.raises(Exception, match='Unsupported global'):
        torch.load(str(tmp_path / 'evil.pth'))
    # getattr is resolved only for HistoryBuffer's statistics methods
    torch.save({'x': AttrGrab()}, str(tmp_path / 'grab.pth'))
    with pytest.raises(Exception, match='only allows HistoryBuffer'):
        torch.load(str(tmp_path / 'grab.pth'))


@pytest.mark.slow  # trains with a Runner
def test_defect3_real_runner_checkpoint_loads(tmp_path):
    """A checkpoint as mmengine's Runner writes it (HistoryBuffer pickles
    getattr(HistoryBuffer, 'min')) loads with weights_only=True."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('compat_test')
    hub.update_scalar('train/loss', 1.25)
    path = str(tmp_path / 'runner_like.pth')
    torch.save({'message_hub': hub.state_dict(), 'meta': {'seed': 0}}, path)
    bare = _python(f'import torch; torch.load({path!r})')
    assert bare.returncode != 0
    loaded = torch.load(path)
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 1.25


def test_defect4_cpu_distributed_uses_gloo_and_no_device_ids(monkeypatch):
    import torch.distributed as dist
    if torch.cuda.is_available():
        pytest.skip('CPU-only behaviour')
    for k, v in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT='29613', RANK='0',
                     WORLD_SIZE='1', LOCAL_RANK='0').items():
        monkeypatch.setenv(k, v)
    cfg = Config(dict(model_wrapper_cfg=None))
    try:
        compat.setup_distributed(cfg, 'pytorch')
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert cfg.model_wrapper_cfg == dict(
            type='MMDistributedDataParallel', device_ids=None)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    untouched = Config(dict())
    compat.setup_distributed(untouched, 'none')
    assert 'model_wrapper_cfg' not in untouched
    with pytest.raises(ValueError, match='launcher'):
        compat.setup_distributed(Config(dict()), 'slurm')


def test_defects_2_and_5_dependencies_present():
    compat.check_importlib_metadata()
    compat.check_pkg_resources()
    # mmaction:: base configs resolve (needs pkg_resources)
    cfg = Config.fromfile(os.path.join(
        os.path.dirname(os.path.dirname(__file__)), 'configs',
        'seco_r50_kinetics.py'))
    assert cfg.default_scope == 'mmaction'


# --- defect 6: numpy 2 names that mmaction2 1.2.0 still calls --------------

def test_defect6_removed_numpy_names_are_real_and_only_those_are_added():
    bare = _python('import numpy as np\n'
                   'for n in ("Inf", "NAN", "trapz", "in1d"):\n'
                   '    try:\n        getattr(np, n)\n'
                   '    except AttributeError:\n        print("missing", n)\n')
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout.split() == ['missing', 'Inf', 'missing', 'NAN',
                                   'missing', 'trapz', 'missing', 'in1d']
    assert np.Inf == np.inf and np.isnan(np.NAN)
    assert np.trapz is np.trapezoid
    assert compat.alias_removed_numpy_names() == {}  # idempotent
    # numpy names that were never removed are left alone
    assert not hasattr(np, 'NaN') and not hasattr(np, 'product')


def test_defect6_pose_compact_and_mm_compact_run():
    from mmaction.datasets.transforms import MMCompact, PoseCompact
    kp = np.zeros((1, 2, 3, 2), np.float32)  # (persons, frames, joints, xy)
    kp[..., 0] = [[20, 40, 60], [25, 45, 65]]
    kp[..., 1] = [[30, 50, 70], [30, 50, 70]]
    out = PoseCompact(padding=0.0, threshold=1, hw_ratio=None)(
        dict(img_shape=(100, 100), keypoint=kp.copy()))
    # the tight box over all joints is x 20..65, y 30..70
    assert out['img_shape'] == (40, 45)
    np.testing.assert_allclose(out['keypoint'][0, 0, 0], [0, 0])
    imgs = [np.zeros((100, 100, 3), np.uint8)] * 2
    out = MMCompact(padding=0.0, threshold=1, hw_ratio=None)(
        dict(img_shape=(100, 100), keypoint=kp.copy(), imgs=imgs))
    assert out['imgs'][0].shape[:2] == out['img_shape'] == (40, 45)


def test_defect6_ava_average_precision_of_an_empty_class_is_nan():
    from mmaction.evaluation.functional.ava_evaluation.metrics import \
        compute_average_precision
    assert np.isnan(compute_average_precision(None, None))
    ap = compute_average_precision(np.array([1.0, 0.5]), np.array([0.5, 1.0]))
    assert ap == pytest.approx(0.75)


def test_defect6_anet_average_recall_at_avg_proposals():
    from mmaction.evaluation.functional import average_recall_at_avg_proposals
    gt = {'v1': np.array([[0.0, 10.0]]), 'v2': np.array([[5.0, 15.0]])}
    proposals = {'v1': np.array([[0.0, 10.0, 0.9], [20.0, 30.0, 0.1]]),
                 'v2': np.array([[5.0, 15.0, 0.8], [40.0, 50.0, 0.2]])}
    recall, avg_recall, per_video, auc = average_recall_at_avg_proposals(
        gt, proposals, total_num_proposals=4, max_avg_proposals=2)
    # the top proposal of each video matches its ground truth exactly: recall
    # is 0 until one proposal per video is retrieved (half the range of 0.02
    # to 2 proposals per video), then 1, so the normalised area is ~50 %
    assert avg_recall[0] == 0.0 and avg_recall[-1] == 1.0
    assert per_video[-1] == pytest.approx(2.0)
    expected = 100 * np.trapezoid(avg_recall, per_video) / 2.0
    assert auc == pytest.approx(expected) and 50 < auc < 51


def test_defect6_retrieval_recall():
    from mmaction.evaluation import RetrievalRecall
    pred = np.array([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7]])
    recall = RetrievalRecall.calculate(pred, [np.array([0]), np.array([1])],
                                       topk=(1, 2), target_indices=True)
    assert [float(r) for r in recall] == [50.0, 100.0]


def test_defect6_frame_extract_with_short_side(tmp_path):
    from mmaction.utils import frame_extract

    from tests.conftest import moving_square_frames, write_video
    video = str(tmp_path / 'clip.mp4')
    write_video(video, moving_square_frames(0, num_frames=3, size=64))
    paths, frames = frame_extract(video, short_side=32,
                                  out_dir=str(tmp_path / 'frames'))
    assert len(paths) == 3 and all(os.path.isfile(p) for p in paths)
    assert frames[0].shape == (32, 32, 3)


# --- defect 7: mmaction2 1.2.0's VisualizationHook cannot draw -------------

def _tsn_batch():
    """A packed 2D-recognizer (NCHW) test sample with a prediction."""
    import torch
    from mmaction.structures import ActionDataSample
    frames = torch.zeros(4, 3, 48, 64, dtype=torch.uint8)  # (T, C, H, W)
    frames[:, 0] = 200  # red frames
    sample = ActionDataSample().set_gt_label(2)
    sample.set_pred_label(1)
    sample.set_pred_score(torch.tensor([0.1, 0.7, 0.2]))
    sample.set_metainfo(dict(format_shape='NCHW'))
    return dict(inputs=[frames], data_samples=[sample]), [sample]


def test_defect7_visualization_hook_is_broken_upstream_and_fixed(tmp_path):
    import cv2
    from mmaction.engine.hooks import VisualizationHook
    from mmaction.registry import HOOKS
    from mmaction.visualization import ActionVisualizer
    ActionVisualizer.get_instance('w5_vis', save_dir=str(tmp_path / 'vis'))
    batch, outputs = _tsn_batch()
    upstream = VisualizationHook(enable=True, interval=1,
                                 out_dir=str(tmp_path / 'up'))
    with pytest.raises(TypeError, match="unexpected keyword argument 'show'"):
        upstream._draw_samples(0, batch, outputs)

    hook = HOOKS.build(dict(type=compat.visualization_hook_type(),
                            enable=True, interval=1,
                            out_dir=str(tmp_path / 'fixed')))
    assert isinstance(hook, VisualizationHook)
    hook._draw_samples(0, batch, outputs)
    frames = sorted((tmp_path / 'fixed').rglob('*.png'))
    assert len(frames) == 4  # one image per (T, C, H, W) frame, not per C
    img = cv2.imread(str(frames[0]))[..., ::-1]  # RGB
    assert img.shape[:2] == (48, 64)
    assert img[-1, -1].tolist() == [200, 0, 0]  # the frame, not scrambled
    # the text box holds three lines (frame, ground truth, prediction), not
    # only the frame number the upstream visualizer would draw
    vis = ActionVisualizer.get_instance('w5_vis')

    def box_pixels(sample):
        vis.add_datasample('x', video=compat._frames_for_drawing(
            batch['inputs'][0], sample)[:1], data_sample=sample,
            out_path=str(tmp_path / 'box'))
        drawn = cv2.imread(str(next((tmp_path / 'box').rglob('0.png'))))
        shutil.rmtree(tmp_path / 'box')
        return int((drawn.max(axis=2) < 100).sum())

    assert box_pixels(compat._with_label_fields(outputs[0])) > 2 * box_pixels(
        outputs[0])


def test_defect7_frames_for_drawing_handles_2d_and_3d_inputs():
    import torch
    from mmaction.structures import ActionDataSample
    nchw = torch.arange(4 * 3 * 5 * 6).reshape(4, 3, 5, 6)  # (T, C, H, W)
    frames = compat._frames_for_drawing(nchw, ActionDataSample())
    assert frames.shape == (4, 5, 6, 3)
    assert frames[2, 1, 3, 0] == nchw[2, 0, 1, 3] % 256
    ncthw = torch.arange(2 * 3 * 4 * 5 * 6).reshape(2, 3, 4, 5, 6) % 256
    frames = compat._frames_for_drawing(ncthw, ActionDataSample())
    assert frames.shape == (4, 5, 6, 3)  # the first clip, (T, H, W, C)
    assert frames[3, 1, 2, 2] == ncthw[0, 2, 3, 1, 2]


_BF16_HEAD_LOSS = '''
import torch
from mmaction.models.heads import TSNHead
from mmaction.structures import ActionDataSample
head = TSNHead(num_classes=4, in_channels=8)
samples = [ActionDataSample().set_gt_label(torch.tensor([i % 4]))
           for i in range(3)]
scores = torch.randn(3, 4).to(torch.bfloat16)
try:
    losses = head.loss_by_feat(scores, samples)
    print('ok', losses['loss_cls'].dtype, float(losses['top1_acc']) >= 0)
except TypeError as err:
    print('TypeError', err)
'''


@pytest.mark.slow  # fresh interpreters importing mmaction
def test_defect8_head_loss_of_bf16_scores_is_real_and_patched():
    # compat.py loaded on its own (not the seco_mm package, whose import
    # applies every fix): only the drn placeholder, so mmaction imports
    bare = _python(
        'import importlib.util\n'
        f'spec = importlib.util.spec_from_file_location("c", {compat.__file__!r})\n'
        'c = importlib.util.module_from_spec(spec)\n'
        'spec.loader.exec_module(c)\nc.patch_missing_drn()\n' +
        _BF16_HEAD_LOSS)
    assert bare.returncode == 0, bare.stderr
    assert 'TypeError' in bare.stdout and 'BFloat16' in bare.stdout
    fixed = _python('import seco_mm\n' + _BF16_HEAD_LOSS)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.split() == ['ok', 'torch.float32', 'True']
    assert compat.patch_head_loss_bf16() is False  # installed once
