"""SeCoRawframeDataset: frame folders skip / count / limit like videos."""
import logging
import types

import cv2
import numpy as np
import pytest
import seco_mm  # noqa: F401
from mmaction.registry import DATASETS
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from seco_mm.datasets.transforms import VideoReadError
from seco_mm.engine.hooks import BadSampleLimitError, SeCoBadSampleHook

PIPELINE = [dict(type='SeCoSampleIndices'), dict(type='SeCoRawFrameDecode'),
            dict(type='PackActionInputs', algorithm_keys=('seco_order', ))]


def _folders(root, n=3, count=10, tmpl='img_{:05d}.jpg'):
    lines = []
    for v in range(n):
        folder = root / f'vid{v}'
        folder.mkdir(parents=True)
        for i in range(1, count + 1):
            cv2.imwrite(str(folder / tmpl.format(i)),
                        np.full((8, 8, 3), 20 * i, np.uint8))
        lines.append(f'vid{v} {count} {v}')
    return lines


def _build(root, text, **kwargs):
    ann = root / 'list.txt'
    ann.write_bytes(text if isinstance(text, bytes) else text.encode())
    init_default_scope('mmaction')
    return DATASETS.build(dict(type='SeCoRawframeDataset', ann_file=str(ann),
                               data_prefix=dict(img=str(root)),
                               pipeline=PIPELINE, **kwargs))


def test_frames_are_read_one_based_and_labels_optional(tmp_path):
    lines = _folders(tmp_path, n=2)
    ds = _build(tmp_path, '\n'.join([lines[0], 'vid1 10']) + '\n')
    assert ds.get_data_info(1)['frame_dir'] == str(tmp_path / 'vid1')
    assert 'label' not in ds.get_data_info(1)
    np.random.seed(0)
    seen = set()
    for _ in range(20):
        raw = ds.pipeline.transforms[1](ds.pipeline.transforms[0](
            ds.get_data_info(0)))  # sample + decode, before packing
        for ind, img in zip(raw['frame_inds'], raw['imgs']):
            assert 1 <= ind <= 10 and abs(img.mean() - 20 * ind) <= 2
            seen.add(int(ind))
    assert 1 in seen and 10 in seen
    assert ds[1]['inputs'].shape[0] == 3


def test_reference_frame_template(tmp_path):
    _folders(tmp_path, n=1, tmpl='frame_{:06d}.jpg')
    ds = _build(tmp_path, 'vid0 10\n', filename_tmpl='frame_{:06}.jpg')
    assert ds[0]['inputs'].shape[0] == 3


def test_missing_jpeg_is_skipped_counted_and_limited(tmp_path):
    lines = _folders(tmp_path, n=3)
    for i in range(1, 11):  # vid0 lost all its frames but stays listed
        (tmp_path / 'vid0' / f'img_{i:05d}.jpg').unlink()
    (tmp_path / 'vid1' / 'img_00003.jpg').write_bytes(b'not a jpeg')
    ds = _build(tmp_path, '\n'.join(lines) + '\n')
    bad = {}
    for seed in range(6):
        np.random.seed(seed)
        for idx in (0, 1):
            sample = ds[idx]
            for path, reason in sample['data_samples'].metainfo.get(
                    'bad_videos', []):
                bad[path] = reason
    assert any(p.startswith(str(tmp_path / 'vid0' / 'img_')) for p in bad)
    assert all('file not found' in r for p, r in bad.items() if 'vid0' in p)
    # the bad-sample hook counts them (it logged bad_samples: 0 before)
    hook = SeCoBadSampleHook(max_bad_fraction=0.1, min_samples=1)
    runner = types.SimpleNamespace(
        logger=logging.getLogger('test'), iter=0,
        message_hub=types.SimpleNamespace(update_scalar=lambda k, v: None))
    np.random.seed(0)
    batch = pseudo_collate([ds[0], ds[2]])
    with pytest.raises(BadSampleLimitError, match='unreadable'):
        hook.before_train_iter(runner, 0, batch)
    assert hook.num_bad >= 1
    # test mode raises, naming the image
    test_ds = _build(tmp_path, lines[0] + '\n', test_mode=True)
    with pytest.raises(VideoReadError, match=r'vid0/img_\d{5}\.jpg'):
        test_ds[0]


def test_corrupt_jpeg_names_the_file(tmp_path):
    _folders(tmp_path, n=1, count=3)
    for i in (1, 2, 3):
        (tmp_path / 'vid0' / f'img_{i:05d}.jpg').write_bytes(b'garbage')
    ds = _build(tmp_path, 'vid0 3\n', test_mode=True)
    with pytest.raises(VideoReadError, match='img_0000[123].jpg.*unreadable'):
        ds[0]


def test_short_folder_and_bad_list_lines(tmp_path):
    _folders(tmp_path, n=1, count=2)
    ds = _build(tmp_path, 'vid0 2\n', test_mode=True)
    with pytest.raises(VideoReadError, match='vid0.*only 2 frames'):
        ds[0]
    from seco_mm.datasets import AnnotationError
    for text, reason in ((b'vid0\n', 'expected "frame_dir total_frames'),
                         (b'vid0 ten 1\n', 'total_frames must be an integer'),
                         (b'vid0 10 x\n', 'labels must be integers')):
        with pytest.raises(AnnotationError, match=f'list.txt:1: {reason}'):
            _build(tmp_path, text)
