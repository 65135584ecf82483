"""SiamFC: geometry, labels, loss, training step, and tracking a target."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from trk_helpers import make_sequence, save_backbone

from mmaction.registry import MODELS
from seco_mm.evaluation.sot_metrics import eval_ope
from seco_mm.tracking.apis import (check_backbone_file, run_ope,
                                   static_box_predictions)
from seco_mm.tracking.datasets import load_otb_sequences
from seco_mm.tracking.models import cross_correlation
from seco_mm.tracking.utils import (center_to_xywh, crop_and_resize,
                                    xywh_to_center)

BACKBONE_L2 = dict(type='ResNet', depth=18, pretrained=None, num_stages=2,
                   strides=(1, 2), dilations=(1, 1), out_indices=(1, ),
                   norm_eval=True)


def build(exemplar=63, search=127, crop=4, backbone=None, in_channels=128,
          checkpoint=None, seed=0, **head):
    torch.manual_seed(seed)
    bb = dict(backbone or BACKBONE_L2)
    if checkpoint:
        bb['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint,
                              prefix='backbone.')
    model = MODELS.build(
        dict(type='SiamFC', backbone=bb,
             head=dict(type='SiamFCHead', in_channels=in_channels,
                       template_crop=crop, **head),
             train_cfg=dict(exemplar_size=exemplar, search_size=search),
             test_cfg=dict(exemplar_size=exemplar, search_size=search)))
    model.init_weights()
    return model.eval()


def test_box_conventions_round_trip():
    box = np.array([11.0, 21.0, 30.0, 40.0])
    c, s = xywh_to_center(box)
    np.testing.assert_allclose(c, [10 + 14.5, 20 + 19.5])
    np.testing.assert_allclose(center_to_xywh(c, s), box)


def test_crop_and_resize_is_centred_and_padded():
    img = np.zeros((40, 40, 3), np.uint8)
    img[20, 20] = 255
    out = crop_and_resize(img, (20, 20), 9, 9, (7, 7, 7))
    assert out[4, 4, 0] == 255 and out.sum() == 255 * 3
    out = crop_and_resize(img, (0, 0), 20, 20, (7, 8, 9))
    assert tuple(out[0, 0]) == (7, 8, 9)  # outside: the pad colour


@pytest.mark.parametrize('exemplar,search,crop,backbone,cin,resp', [
    (63, 127, 4, None, 128, 13),
    (63, 127, None, None, 128, 9),
    (127, 255, 8, None, 128, 25),
    (63, 127, 4, dict(BACKBONE_L2, num_stages=3, strides=(1, 2, 1),
                      dilations=(1, 1, 2), out_indices=(2, )), 256, 13),
])
def test_score_map_is_centred(exemplar, search, crop, backbone, cin, resp):
    model = build(exemplar, search, crop, backbone, cin)
    z = torch.zeros(1, 3, exemplar, exemplar)
    x = torch.zeros(2, 3, search, search)
    with torch.no_grad():
        scores = model(dict(template=z.expand(2, -1, -1, -1), search=x))
        z_cells = model.extract_feat(z).size(-1)
    assert scores.shape == (2, 1, resp, resp)
    r0 = model.head.response_origin(z_cells, exemplar, search)
    assert r0 == (resp - 1) / 2


def test_uncentrable_template_crop_raises():
    model = build(63, 127, crop=3)  # 8 cells - 3 is odd
    with pytest.raises(ValueError, match='template_crop=3'):
        model.head.template_features(torch.zeros(1, 128, 8, 8))


def test_cross_correlation_matches_loop():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 4, 2, 2, generator=g)
    x = torch.randn(3, 4, 5, 5, generator=g)
    out = cross_correlation(z, x)
    for b in range(3):
        ref = F.conv2d(x[b:b + 1], z[b:b + 1])
        torch.testing.assert_close(out[b:b + 1], ref)
    assert cross_correlation(z[:1], x).shape == (3, 1, 4, 4)


def test_labels_and_balanced_loss():
    head = build().head
    labels = head.labels((13, 13), 6.0, torch.tensor([[0.0, 0.0],
                                                      [16.0, -8.0]]))
    # 16 px = 2 cells at stride 8: 1 + 4 + 4 + 4 = 13 cells within radius 2
    assert labels[0].sum() == 13 and labels[0, 0, 6, 6] == 1
    assert labels[0, 0, 6, 8] == 1 and labels[0, 0, 7, 8] == 0
    # the positive disc follows the target offset (+2 cells x, -1 cell y)
    assert labels[1, 0, 5, 8] == 1 and labels[1].sum() == 13
    logits = torch.randn(2, 1, 13, 13)
    loss = head.loss_module(logits, labels)
    pos = labels.bool()
    bce = F.binary_cross_entropy_with_logits(logits, labels,
                                             reduction='none')
    ref = 0.5 * bce[pos].mean() + 0.5 * bce[~pos].mean()
    torch.testing.assert_close(loss, ref)


def test_alignment_peak_at_known_shift():
    """Same texture in both crops, shifted by 16 px: peak 2 cells off r0."""
    rng = np.random.default_rng(0)
    img = (rng.uniform(0, 255, (200, 200, 3))).astype(np.uint8)
    model = build(63, 127, crop=4)
    z = crop_and_resize(img, (100, 100), 63, 63, (0, 0, 0))
    # search centred 16 px left/up of the target: target at +16, +16
    x = crop_and_resize(img, (84, 84), 127, 127, (0, 0, 0))
    with torch.no_grad():
        scores = model(dict(template=model._to_batch([z]),
                            search=model._to_batch([x])))[0, 0]
    iy, ix = np.unravel_index(int(scores.argmax()), scores.shape)
    assert (iy, ix) == (6 + 2, 6 + 2)


def test_training_step_updates_only_the_head():
    model = build()
    model.train()
    assert not model.backbone.training  # frozen: BN in eval mode
    batch = dict(
        inputs=dict(template=[torch.randint(0, 255, (3, 63, 63),
                                            dtype=torch.uint8)] * 2,
                    search=[torch.randint(0, 255, (3, 127, 127),
                                          dtype=torch.uint8)] * 2),
        data_samples=dict(target_offset=[torch.zeros(2)] * 2))
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'center_err'}
    losses['loss_cls'].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.head.adjust_template[0].weight.grad.abs().sum() > 0
    assert model.head.adjust_search[0].weight.grad.abs().sum() > 0


def test_tie_init_makes_branches_identical():
    head = build().head
    for a, b in zip(head.adjust_template.state_dict().values(),
                    head.adjust_search.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_backbone_file_loading_and_checks(tmp_path):
    path = str(tmp_path / 'bb.pth')
    net = save_backbone(path, depth=18, seed=3)
    model = build(checkpoint=path)
    torch.testing.assert_close(model.backbone.layer2[1].conv2.conv.weight,
                               net.layer2[1].conv2.conv.weight)
    info = check_backbone_file(path, BACKBONE_L2)
    assert info['depth'] == 18 and info['num_used'] < info['num_tensors']
    with pytest.raises(ValueError, match='ResNet-18 but the config builds a '
                       'ResNet-50'):
        check_backbone_file(path, dict(BACKBONE_L2, depth=50))
    sd = torch.load(path, weights_only=True)
    del sd['state_dict']['backbone.layer2.1.conv2.conv.weight']
    torch.save(sd, path)
    with pytest.raises(ValueError, match='missing backbone.layer2.1.conv2'):
        check_backbone_file(path, BACKBONE_L2)
    torch.save(dict(state_dict={'conv1.weight': torch.zeros(1)}), path)
    with pytest.raises(ValueError, match='export_backbone'):
        check_backbone_file(path, BACKBONE_L2)
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        check_backbone_file(str(tmp_path / 'nope.pth'), BACKBONE_L2)


def test_backbone_file_is_read_once_for_the_check_and_every_build(
        tmp_path, monkeypatch):
    import os
    import os.path as osp

    from mmengine.config import Config

    from seco_mm.engine import safe_load
    from seco_mm.tracking.apis import build_tracker, set_backbone_checkpoint
    from tests.conftest import ROOT
    reads = []
    real_load = safe_load.load_weights_only

    def counting_load(source, name=None, map_location='cpu'):
        reads.append(source)  # every read, ours or mmengine's, ends here
        return real_load(source, name, map_location)

    monkeypatch.setattr(safe_load, 'load_weights_only', counting_load)
    path = str(tmp_path / 'bb.pth')
    net = save_backbone(path, depth=18, seed=5)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'tracking',
                                   'siamfc_r18_demo.py'))
    info = set_backbone_checkpoint(cfg, path)
    assert info['depth'] == 18 and reads == [path]
    for _ in range(2):  # e.g. the untrained and the evaluated tracker
        model = build_tracker(cfg)
        torch.testing.assert_close(model.backbone.layer2[1].conv2.conv.weight,
                                   net.layer2[1].conv2.conv.weight)
    assert reads == [path]  # the check's read served both builds
    save_backbone(path, depth=18, seed=6)  # the file changes: read again
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    build_tracker(cfg)
    assert reads == [path, path]
    set_backbone_checkpoint(cfg, None)  # random init: nothing read
    assert 'backbone_checkpoint' not in cfg.model
    build_tracker(cfg)
    assert len(reads) == 2


def test_predict_mode_and_track_before_init():
    model = build()
    with pytest.raises(RuntimeError, match='init'):
        model.track(np.zeros((64, 64, 3), np.uint8))
    img = np.random.default_rng(0).integers(0, 255, (96, 96, 3), np.uint8)
    [out] = model(dict(img=img[None]), [dict(frame_id=0,
                                               init_bbox=[30, 30, 20, 20])],
                  mode='predict')
    np.testing.assert_allclose(out['pred_bbox'], [30, 30, 20, 20])
    [out] = model(dict(img=torch.from_numpy(img[None])), [dict(frame_id=1)],
                  mode='predict')
    assert out['pred_bbox'].shape == (4, ) and np.isfinite(out['score'])
    with pytest.raises(ValueError, match='uint8'):
        model.track(img.astype(np.float32))


def test_tracker_follows_moving_object(tmp_path):
    """Random-init ResNet-18 (seeded) tracks a textured square far better
    than a box that never moves."""
    root = str(tmp_path)
    make_sequence(root, 'Move', num_frames=30, seed=5, obj=24)
    seqs = load_otb_sequences(root)
    model = build(63, 127, crop=4, seed=0)
    [res] = run_ope(model, seqs, progress=False)
    ours = eval_ope([res['gt_bboxes']], [res['pred_bboxes']])
    static = eval_ope([res['gt_bboxes']], [static_box_predictions(seqs[0])])
    assert static['success'] < 30
    assert ours['success'] > static['success'] + 30
    assert ours['precision'] > 90


def test_unfrozen_backbone_gets_gradients():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='SiamFC', backbone=BACKBONE_L2, freeze_backbone=False,
             head=dict(type='SiamFCHead', in_channels=128, template_crop=4),
             train_cfg=dict(exemplar_size=63, search_size=127),
             test_cfg=dict(exemplar_size=63, search_size=127)))
    model.init_weights()
    model.train()
    inputs = dict(template=torch.randn(2, 3, 63, 63),
                  search=torch.randn(2, 3, 127, 127))
    losses = model(inputs, dict(target_offset=torch.zeros(2, 2)),
                   mode='loss')
    losses['loss_cls'].backward()
    assert model.backbone.layer1[0].conv1.conv.weight.grad.abs().sum() > 0


def _self_tracking_errors(head, test_cfg, seeds, img, boxes):
    """Centre errors (px) of tracking the very frame the tracker was
    initialised on, and the raw score-map argmax vs r0 (middle scale)."""
    errors, peaks = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        model = MODELS.build(dict(
            type='SiamFC', backbone=BACKBONE_L2,
            head=dict(type='SiamFCHead', in_channels=128, template_crop=4,
                      **head),
            test_cfg=dict(exemplar_size=63, search_size=127, **test_cfg)))
        model.init_weights()
        model.eval()
        for box in boxes:
            model.init(img, box)
            m = model.memo
            x = crop_and_resize(img, m['center'], m['x_sz0'], 127, m['avg'])
            with torch.no_grad():
                scores = model.head.correlate(
                    m['kernel'], model.head.search_features(
                        model.extract_feat(model._to_batch([x]))))[0, 0]
            peaks.append(np.unravel_index(int(scores.argmax()),
                                          scores.shape) == (m['r0'],) * 2)
            out, _ = model.track(img)
            errors.append(np.linalg.norm(xywh_to_center(out)[0] -
                                         xywh_to_center(box)[0]))
    return np.array(errors), np.array(peaks)


EXACT_HEAD = dict(adjust_init='identity', response_norm='cosine',
                  corr_scale=10.0)


def test_untrained_exact_matcher_finds_the_target_in_its_own_frame(tmp_path):
    """Identity adjust + cosine response + template cut from a search-sized
    crop: asked to track the frame it was initialised on, the raw score
    map peaks exactly at zero displacement for every seed, and the tracked
    centre is within the response upsampling's sub-cell rounding (< 2 px).
    The classic untrained head (Kaiming adjust, raw correlation, exemplar
    template) does not have this property."""
    root = str(tmp_path)
    make_sequence(root, 'Self', num_frames=2, seed=3, obj=24)
    [seq] = load_otb_sequences(root)
    from seco_mm.tracking.datasets.transforms import read_rgb
    img = read_rgb(seq['frame_paths'][0])
    boxes = [seq['gt_bboxes'][0], [20, 30, 30, 22], [70, 64, 26, 34]]
    err, peak = _self_tracking_errors(EXACT_HEAD,
                                      dict(template_context='search'),
                                      range(5), img, boxes)
    assert peak.all()
    assert err.max() < 2.0, err
    classic, classic_peak = _self_tracking_errors({}, {}, range(5), img,
                                                  boxes)
    assert not classic_peak.all() and classic.max() > 8.0, classic


def test_identity_adjust_and_cosine_response():
    head = build(adjust_init='identity', response_norm='cosine',
                 corr_scale=10.0).head
    x = torch.randn(2, 128, 5, 5)
    with torch.no_grad():
        y = head.search_features(x)  # eval BN at its fresh state
    torch.testing.assert_close(y[:, :128], x / math.sqrt(1 + 1e-5))
    assert (y[:, 128:] == 0).all()
    z = x[:1, :, 1:4, 1:4]
    scores = head.correlate(head.template_features(z), y[:1]) / 10.0
    assert scores.shape == (1, 1, 3, 3)
    torch.testing.assert_close(scores[0, 0, 1, 1], torch.tensor(1.0))
    assert scores.abs().max() <= 1.0 + 1e-5
    with pytest.raises(ValueError, match='out_channels >= in_channels'):
        MODELS.build(dict(type='SiamFCHead', in_channels=512,
                          out_channels=256, adjust_init='identity'))
    with pytest.raises(ValueError, match='template_context'):
        MODELS.build(dict(
            type='SiamFC', backbone=BACKBONE_L2,
            head=dict(type='SiamFCHead', in_channels=128),
            test_cfg=dict(template_context='middle')))


def test_search_context_training_pairs_match_the_geometry():
    """With template_context='search' the training template is the
    search-sized region around the template target: a search crop of the
    same frame with zero shift equals it pixel for pixel, and the loss's
    response origin is the kernel's own position."""
    from seco_mm.tracking.datasets.transforms import SiamFCPairCrop
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (128, 128, 3), np.uint8)
    crop = SiamFCPairCrop(63, 127, max_stretch=0.0, max_shift=0.0,
                          template_context='search')
    out = crop(dict(template_img=img, search_img=img,
                    template_bbox=[40, 40, 30, 30],
                    search_bbox=[40, 40, 30, 30]))
    assert out['template'].shape == (127, 127, 3)
    np.testing.assert_array_equal(out['template'], out['search'])
    model = build(**EXACT_HEAD)
    z = model._to_batch([out['template']])
    assert model.head.response_origin(
        model.extract_feat(z).size(-1), 127, 127) == 6


def test_configs_keep_one_home_for_tracking_defaults():
    """The demo config overrides only what differs; the paper-scale config
    uses SiamFC's defaults (DEFAULT_TEST_CFG) unchanged."""
    import os.path as osp

    from mmengine.config import Config

    from seco_mm.tracking.models.siamfc import DEFAULT_TEST_CFG
    root = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'tracking')
    demo = Config.fromfile(osp.join(root, 'siamfc_r18_demo.py'))
    assert set(demo.model.test_cfg) == {'exemplar_size', 'search_size',
                                        'template_context'}
    r50 = Config.fromfile(osp.join(root, 'siamfc_r50_otb100.py'))
    model = MODELS.build(r50.model)
    assert model.test_cfg == DEFAULT_TEST_CFG
    assert model.head.adjust_init == 'kaiming'
    assert model.head.response_norm == 'scale'
