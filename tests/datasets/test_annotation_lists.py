"""The one annotation-list parser and the folder scan."""
import logging
import os

import pytest
import seco_mm  # noqa: F401
from mmaction.registry import DATASETS
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from seco_mm.datasets import (parse_rawframe_list, parse_video_list,
                              scan_videos)


def test_utf8_bom_is_dropped(tmp_path):
    ann = tmp_path / 'bom.txt'
    ann.write_bytes(b'\xef\xbb\xbfa.mp4 1\nb.mp4 2\n')
    assert parse_video_list(str(ann)) == [dict(filename='a.mp4', label=1),
                                          dict(filename='b.mp4', label=2)]
    ann.write_bytes(b'\xef\xbb\xbfclip0 30 4\n')
    assert parse_rawframe_list(str(ann)) == [
        dict(frame_dir='clip0', total_frames=30, label=4)]
    # a BOM in the middle of the file is not silently dropped
    ann.write_bytes(b'a.mp4 1\n\xef\xbb\xbfb.mp4 2\n')
    assert parse_video_list(str(ann))[1]['filename'] == '\ufeffb.mp4'


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(b'x')


def test_symlink_cycle_lists_each_video_once(tmp_path):
    root = tmp_path / 'videos'
    _touch(str(root / 'a' / 'one.mp4'))
    _touch(str(root / 'a' / 'b' / 'two.mp4'))
    _touch(str(root / 'c' / 'three.mp4'))
    os.symlink(str(root), str(root / 'a' / 'b' / 'loop'))  # cycle
    os.symlink(str(root / 'c'), str(root / 'c_again'))  # same dir twice
    found = scan_videos(str(root))
    names = sorted(os.path.basename(p) for p in found)
    assert names == ['one.mp4', 'three.mp4', 'two.mp4']
    # a linked folder outside the root is still followed
    outside = tmp_path / 'elsewhere'
    _touch(str(outside / 'four.mp4'))
    os.symlink(str(outside), str(root / 'linked'))
    assert 'linked/four.mp4' in scan_videos(str(root))


def test_folder_mode_logs_how_many_videos(tmp_path):
    root = tmp_path / 'videos'
    for i in range(3):
        _touch(str(root / f'v{i}.mp4'))
    _touch(str(root / 'notes.txt'))
    init_default_scope('mmaction')
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    level = logger.level  # other tests may have raised it
    logger.setLevel(logging.INFO)
    try:
        ds = DATASETS.build(dict(type='SeCoVideoDataset', ann_file='',
                                 data_prefix=dict(video=str(root)),
                                 pipeline=[]))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert len(ds) == 3
    assert any(f'found 3 videos under {root}' in r.getMessage()
               for r in records)


def test_folder_mode_refuses_a_url(tmp_path):
    init_default_scope('mmaction')
    with pytest.raises(ValueError, match='needs a local folder'):
        DATASETS.build(dict(type='SeCoVideoDataset', ann_file='',
                            data_prefix=dict(video='http://127.0.0.1:1/v'),
                            pipeline=[]))
