"""SOTPairDataset + SiamFC pair transforms: where the target lands."""
import numpy as np
import torch
from trk_helpers import write_info_file

from mmaction.registry import DATASETS, TRANSFORMS
from seco_mm.tracking.models import SiamFCDataPreprocessor


def _marker_frame(path, centre_xy, size=120):
    """Grey frame with one white pixel at the (0-based) target centre."""
    import cv2
    img = np.full((size, size, 3), 90, np.uint8)
    img[int(centre_xy[1]), int(centre_xy[0])] = 255
    cv2.imwrite(path, img)


def test_pair_crop_places_target_at_offset(tmp_path):
    np.random.seed(0)
    crop = TRANSFORMS.build(dict(type='SiamFCPairCrop', exemplar_size=63,
                                 search_size=127, max_stretch=0.0,
                                 max_shift=8))
    img = np.full((160, 160, 3), 90, np.uint8)
    # 1-based box x, y, w, h whose 0-based centre is (80, 70)
    box = np.array([72.0, 62.0, 19.0, 19.0])
    img[70, 80] = 255
    for _ in range(5):
        out = crop(dict(template_img=img, template_bbox=box, search_img=img,
                        search_bbox=box))
        z, x = out['template'], out['search']
        assert z.shape == (63, 63, 3) and x.shape == (127, 127, 3)
        zy, zx = np.unravel_index(z[..., 0].argmax(), z.shape[:2])
        assert (zy, zx) == (31, 31)  # template centred on the target
        xy, xx = np.unravel_index(x[..., 0].argmax(), x.shape[:2])
        dx, dy = out['target_offset']
        assert abs(xx - (63 + dx)) <= 1 and abs(xy - (63 + dy)) <= 1
        assert np.abs(out['target_offset']).max() <= 8


def test_pair_dataset_end_to_end(tmp_path):
    root = tmp_path / 'otb'
    img_dir = root / 'Dot' / 'img'
    img_dir.mkdir(parents=True)
    boxes = []
    for i in range(1, 9):
        cx, cy = 40 + 5 * i, 50 + 2 * i
        _marker_frame(str(img_dir / f'{i:04d}.jpg'), (cx, cy))
        boxes.append([cx - 9 + 1, cy - 9 + 1, 19, 19])  # 1-based, w = 19
    (root / 'Dot' / 'groundtruth_rect.txt').write_text(
        '\n'.join(','.join(str(v) for v in b) for b in boxes))
    write_info_file(str(root), [('Dot/img', 'Dot/groundtruth_rect.txt', 1, 8)])
    ds = DATASETS.build(dict(
        type='SOTPairDataset', pairs_per_seq=6, max_frame_gap=3,
        dataset=dict(type='OTBDataset', data_root=str(root)),
        pipeline=[dict(type='LoadSOTPairImages'),
                  dict(type='SiamFCPairCrop', exemplar_size=63,
                       search_size=127, max_stretch=0.0),
                  dict(type='PackSiamFCInputs')]))
    assert len(ds) == 6
    np.random.seed(1)
    for k in range(len(ds)):
        info = ds.get_data_info(k)
        i, j = info['frame_ids']
        assert i != j and abs(i - j) <= 3
    np.random.seed(1)
    items = [ds[k] for k in range(4)]
    batch = dict(inputs=dict(template=[it['inputs']['template']
                                       for it in items],
                             search=[it['inputs']['search'] for it in items]),
                 data_samples=dict(target_offset=[
                     it['data_samples']['target_offset'] for it in items]))
    pre = SiamFCDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1])
    out = pre(batch, True)
    assert out['inputs']['template'].shape == (4, 3, 63, 63)
    assert out['inputs']['search'].dtype == torch.float32
    # the JPEG marker is brightest where target_offset says (within 1 px)
    for b in range(4):
        x = out['inputs']['search'][b].mean(0)
        yy, xx = np.unravel_index(int(x.argmax()), x.shape)
        dx, dy = out['data_samples']['target_offset'][b].tolist()
        assert abs(xx - (63 + dx)) <= 1.5 and abs(yy - (63 + dy)) <= 1.5
