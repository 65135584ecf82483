"""SiamFC tracker (Bertinetto et al., ECCV-W 2016) on a truncated ResNet.

Train: ``loss(inputs, data_samples)`` on exemplar/search crop pairs.
Track: ``init(img, bbox)`` on the first frame, then ``track(img)`` per frame,
with the scale pyramid, response upsampling and cosine window of the public
PyTorch SiamFC (values in ``test_cfg``). Boxes are OTB ``(x, y, w, h)``,
1-based; images are (H, W, 3) uint8 RGB.
"""
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from mmaction.registry import MODELS
from .backbone_file import load_tracker_backbone
from ..utils.crop import (center_to_xywh, context_size, crop_and_resize,
                          xywh_to_center)

DEFAULT_TEST_CFG = dict(
    exemplar_size=127,
    search_size=255,
    context_amount=0.5,
    response_up=16,
    scale_num=3,
    scale_step=1.0375,
    scale_penalty=0.9745,
    scale_lr=0.59,
    window_influence=0.176,
    min_size_ratio=0.2,  # target size clamp relative to the first frame
    max_size_ratio=5.0,
    # 'exemplar': the kernel comes from the exemplar crop (classic SiamFC);
    # 'search': from a search-sized crop around the target (the kernel then
    # sees the same context as the search features; see SiamFCHead)
    template_context='exemplar')
TEMPLATE_CONTEXTS = ('exemplar', 'search')

DEFAULT_TRAIN_CFG = dict(exemplar_size=127, search_size=255)


@MODELS.register_module()
class SiamFC(BaseModel):
    """Fully-convolutional Siamese tracker.

    Args:
        backbone (dict): an mmaction2 ``ResNet`` truncated to output stride 8
            (``num_stages=2``, or ``num_stages=3`` with layer3 dilated).
        backbone_checkpoint (str, optional): a SeCo backbone export or
            checkpoint, loaded into the backbone by :meth:`init_weights`
            (checked: depth, every needed tensor and its shape; see
            ``backbone_file.py``). None: randomly initialised.
        head (dict): :class:`SiamFCHead` config.
        data_preprocessor (dict): :class:`SiamFCDataPreprocessor` config.
        freeze_backbone (bool): keep the backbone fixed (eval-mode BN, no
            gradients), as public ResNet-SiamFC practice. Defaults to True.
        train_cfg (dict): ``exemplar_size``/``search_size`` of training crops.
        test_cfg (dict): tracking hyper-parameters, see ``DEFAULT_TEST_CFG``.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 data_preprocessor: Optional[dict] = None,
                 freeze_backbone: bool = True,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 backbone_checkpoint: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='SiamFCDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # build from mmaction's registry (mmengine's would need the scope)
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.freeze_backbone = freeze_backbone
        self.backbone_checkpoint = backbone_checkpoint
        self.train_cfg = {**DEFAULT_TRAIN_CFG, **(train_cfg or {})}
        self.test_cfg = {**DEFAULT_TEST_CFG, **(test_cfg or {})}
        unknown = set(test_cfg or {}) - set(DEFAULT_TEST_CFG)
        if unknown:
            raise KeyError(f'unknown SiamFC test_cfg keys: {sorted(unknown)}')
        if self.test_cfg['template_context'] not in TEMPLATE_CONTEXTS:
            raise ValueError(
                f'test_cfg.template_context must be one of '
                f'{TEMPLATE_CONTEXTS}, got '
                f"{self.test_cfg['template_context']!r}")
        if freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad = False
        self.memo: Dict = {}

    def init_weights(self):
        """mmengine's init of every part, then the backbone file (after the
        backbone's own random init, which would overwrite it)."""
        super().init_weights()
        if self.backbone_checkpoint:
            load_tracker_backbone(self.backbone, self.backbone_checkpoint)

    # ------------------------------------------------------------------ train
    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    def extract_feat(self, imgs: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised -> (N, C, H/8, W/8) backbone features."""
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.freeze_backbone):
            feat = self.backbone(imgs)
        if isinstance(feat, (tuple, list)):
            if len(feat) != 1:
                raise ValueError('SiamFC needs a single backbone output; set '
                                 f'out_indices to one stage (got {len(feat)})')
            feat = feat[0]
        return feat

    def forward(self,
                inputs: Union[Dict[str, torch.Tensor], torch.Tensor],
                data_samples: Optional[Union[dict, List[dict]]] = None,
                mode: str = 'tensor'):
        """mmengine entry: ``loss`` / ``predict`` / ``tensor`` (scores)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.head(
                self.extract_feat(inputs['template']),
                self.extract_feat(inputs['search']))
        raise RuntimeError(f'invalid mode {mode!r}; use loss/predict/tensor')

    def loss(self, inputs: Dict[str, torch.Tensor],
             data_samples: Dict[str, torch.Tensor]) -> Dict:
        """Balanced logistic loss on a batch of crop pairs.

        Args:
            inputs: ``template`` (B, 3, Z, Z), ``search`` (B, 3, X, X),
                normalised.
            data_samples: ``target_offset`` (B, 2) target centre relative to
                the search crop centre, in search-crop pixels.
        """
        z_feat = self.extract_feat(inputs['template'])
        x_feat = self.extract_feat(inputs['search'])
        scores = self.head(z_feat, x_feat)
        r0 = self.head.response_origin(
            z_feat.size(-1), inputs['template'].size(-1),
            inputs['search'].size(-1))
        return self.head.loss(scores, r0, data_samples['target_offset'])

    # ------------------------------------------------------------------ track
    def _to_batch(self, crops: List[np.ndarray]) -> torch.Tensor:
        arr = torch.from_numpy(np.ascontiguousarray(np.stack(crops)))
        return self.data_preprocessor.normalize(arr.permute(0, 3, 1, 2))

    @torch.no_grad()
    def init(self, img: np.ndarray, bbox) -> None:
        """Start tracking the target ``bbox`` (x, y, w, h) in ``img``."""
        cfg = self.test_cfg
        _check_image(img)
        center, size = xywh_to_center(bbox)
        if size.min() <= 0:
            raise ValueError(f'initial box {list(bbox)} has no area')
        avg = img.reshape(-1, 3).mean(axis=0)
        z_sz = context_size(size, cfg['context_amount'])
        x_sz = z_sz * cfg['search_size'] / cfg['exemplar_size']
        if cfg['template_context'] == 'search':
            # same region and resolution as the first search crop
            z_crop, z_out = x_sz, cfg['search_size']
        else:
            z_crop, z_out = z_sz, cfg['exemplar_size']
        z = crop_and_resize(img, center, z_crop, z_out, avg)
        z_feat = self.extract_feat(self._to_batch([z]))
        n = cfg['scale_num']
        self.memo = dict(
            center=center,
            init_size=size.copy(),
            scale=1.0,
            x_sz0=x_sz,
            avg=avg,
            kernel=self.head.template_features(z_feat),
            r0=self.head.response_origin(z_feat.size(-1), z_out,
                                         cfg['search_size']),
            scale_factors=cfg['scale_step']**(np.arange(n) - n // 2),
            window=None)

    def _window(self, size: int) -> torch.Tensor:
        hann = np.hanning(size)
        win = np.outer(hann, hann)
        return torch.as_tensor(win / win.sum(), dtype=torch.float32,
                               device=self.device)

    @torch.no_grad()
    def track(self, img: np.ndarray) -> Tuple[np.ndarray, float]:
        """Locate the target in the next frame.

        Returns:
            tuple: box (4,) ``(x, y, w, h)`` and the peak score (float).
        """
        if not self.memo:
            raise RuntimeError('call init(img, bbox) before track(img)')
        cfg, m = self.test_cfg, self.memo
        _check_image(img)
        factors = m['scale_factors']
        x_sz = m['x_sz0'] * m['scale']
        crops = [
            crop_and_resize(img, m['center'], x_sz * f, cfg['search_size'],
                            m['avg']) for f in factors
        ]
        x_adj = self.head.search_features(
            self.extract_feat(self._to_batch(crops)))
        scores = self.head.correlate(m['kernel'], x_adj)  # (S, 1, R, R)
        r_size = scores.size(-1)
        if abs(m['r0'] - (r_size - 1) / 2) > 1e-6:
            raise ValueError(
                f"score map of {r_size} cells is not centred on zero "
                f"displacement (r0={m['r0']}); choose exemplar/search sizes "
                'and template_crop so (search - exemplar) / stride matches '
                'the feature sizes')
        up = cfg['response_up']
        big = F.interpolate(
            scores, scale_factor=up, mode='bicubic',
            align_corners=False)[:, 0]  # (S, U, U)
        penalty = torch.full((len(factors), ), cfg['scale_penalty'],
                             device=big.device)
        penalty[len(factors) // 2] = 1.0
        big = big * penalty[:, None, None]
        best = int(big.flatten(1).max(dim=1).values.argmax())
        resp = big[best]
        peak_score = float(resp.max())
        resp = resp - resp.min()
        resp = resp / (resp.sum() + 1e-16)
        if m['window'] is None or m['window'].size(0) != resp.size(0):
            m['window'] = self._window(resp.size(0))
        wi = cfg['window_influence']
        resp = (1 - wi) * resp + wi * m['window']
        idx = int(resp.argmax())
        uy, ux = divmod(idx, resp.size(1))
        disp = (np.array([ux, uy]) + 0.5) / up - 0.5 - m['r0']  # cells
        disp = disp * self.head.total_stride * (
            x_sz * factors[best] / cfg['search_size'])  # image pixels
        h, w = img.shape[:2]
        m['center'] = np.clip(m['center'] + disp, [0, 0], [w - 1, h - 1])
        new_scale = m['scale'] * (
            (1 - cfg['scale_lr']) + cfg['scale_lr'] * factors[best])
        m['scale'] = float(
            np.clip(new_scale, cfg['min_size_ratio'], cfg['max_size_ratio']))
        return center_to_xywh(m['center'], m['init_size'] * m['scale']), \
            peak_score

    def predict(self, inputs: Dict, data_samples: List[dict]) -> List[dict]:
        """Frame-by-frame tracking in mmtracking's style (batch size 1).

        Args:
            inputs: ``img``: (1, H, W, 3) uint8 RGB (tensor or array).
            data_samples: one dict with ``frame_id``; frame 0 also carries
                ``init_bbox`` (x, y, w, h).

        Returns:
            list[dict]: one dict with ``pred_bbox`` (4,) and ``score``.
        """
        img = inputs['img']
        img = img[0].cpu().numpy() if isinstance(img, torch.Tensor) else \
            np.asarray(img)[0]
        sample = data_samples[0]
        if sample['frame_id'] == 0:
            self.init(img, sample['init_bbox'])
            return [dict(pred_bbox=np.asarray(sample['init_bbox'],
                                              dtype=np.float64), score=1.0)]
        box, score = self.track(img)
        return [dict(pred_bbox=box, score=score)]


def _check_image(img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 \
            or img.dtype != np.uint8:
        raise ValueError('expected an (H, W, 3) uint8 RGB image, got '
                         f'{getattr(img, "shape", type(img))} '
                         f'{getattr(img, "dtype", "")}')
