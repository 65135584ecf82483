"""Test helpers: synthetic OTB-layout sequences, a random-init backbone."""
import os
import os.path as osp

import cv2
import numpy as np
import torch

import seco_mm  # noqa: F401  (compat fixes before mmaction.models)


def _texture(rng, h, w, cells, channels=3):
    """Smooth random colour texture, (h, w, 3) float in [0, 255]."""
    small = rng.uniform(0, 255, size=(cells, cells, channels)).astype(
        np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(
        0, 255)


def make_sequence(root, name, num_frames=40, size=128, obj=26, seed=0,
                  sep=',', start=1, template='%04d.jpg', skip_rows=0):
    """Write ``root/name/img/*.jpg`` + ``groundtruth_rect.txt``.

    A textured square of side ``obj`` moves on a smooth path over a textured
    background; boxes are exact (1-based x, y, w, h).

    Returns:
        np.ndarray: (num_frames, 4) boxes written for the tracked frames.
    """
    rng = np.random.default_rng(seed)
    bg = _texture(rng, size, size, 6) * 0.6 + 50
    patch = _texture(rng, obj, obj, 5)
    checker = ((np.indices((obj, obj)) // 4).sum(0) % 2)[..., None] * 90.0
    patch = (patch * 0.6 + checker).clip(0, 255)
    img_dir = osp.join(root, name, 'img')
    os.makedirs(img_dir, exist_ok=True)
    amp = (size - obj) / 2 - 6
    phase = rng.uniform(0, 2 * np.pi, size=2)
    boxes = []
    for k in range(num_frames + skip_rows):
        t = k / max(num_frames - 1, 1)
        cx = size / 2 + amp * np.sin(2 * np.pi * 0.8 * t + phase[0])
        cy = size / 2 + amp * np.sin(2 * np.pi * 0.6 * t + phase[1])
        x0, y0 = int(round(cx - obj / 2)), int(round(cy - obj / 2))
        frame = bg.copy()
        frame[y0:y0 + obj, x0:x0 + obj] = patch
        frame += rng.normal(0, 4, frame.shape)
        fid = start - skip_rows + k
        if fid >= 1:
            cv2.imwrite(
                osp.join(img_dir, template % fid),
                cv2.cvtColor(frame.clip(0, 255).astype(np.uint8),
                             cv2.COLOR_RGB2BGR))
        boxes.append([x0 + 1, y0 + 1, obj, obj])
    with open(osp.join(root, name, 'groundtruth_rect.txt'), 'w') as f:
        for b in boxes:
            f.write(sep.join(str(v) for v in b) + '\n')
    return np.asarray(boxes[skip_rows:], dtype=np.float32)


def write_info_file(root, entries):
    """mmtracking info file: a comment line, then one line per entry."""
    with open(osp.join(root, 'otb100_infos.txt'), 'w') as f:
        f.write('The format of each line in this txt is (video_path,'
                'annotation_path,start_frame_id,end_frame_id)\n')
        for e in entries:
            f.write(','.join(str(v) for v in e) + '\n')


def save_backbone(path, depth=18, seed=0):
    """A random-init mmaction2 ResNet in the SeCo export format."""
    from mmaction.models.backbones import ResNet
    torch.manual_seed(seed)
    net = ResNet(depth=depth, pretrained=None)
    net.init_weights()
    torch.save(
        dict(
            state_dict={'backbone.' + k: v
                        for k, v in net.state_dict().items()},
            meta=dict(seco_backbone_cfg=dict(type='ResNet', depth=depth),
                      source='random-init test backbone')), path)
    return net
