"""Bad annotation lists fail when the dataset is built, naming file:line."""
import os.path as osp

import pytest
import seco_mm  # noqa: F401
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

from seco_mm.datasets import AnnotationError, parse_video_list


def _write(tmp_path, data: bytes, name='list.txt'):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _build(ann, root):
    init_default_scope('mmaction')
    return DATASETS.build(dict(type='SeCoVideoDataset', ann_file=ann,
                               data_prefix=dict(video=root), pipeline=[]))


@pytest.mark.parametrize('data, lineno, reason', [
    (b'a.mp4 1\nb.mp4 x\n', 2, 'labels must be integers'),
    (b'a.mp4 1\nb.mp4 1.5\n', 2, 'labels must be integers'),
    (b'a.mp4 1\n\nc.mp4 -3\n', 3, 'negative label'),
    (b'a.mp4 1\nb\xff\xfe.mp4 2\n', 2, 'not valid UTF-8'),
    (b'my video.mp4 3\n', 1, 'a path with spaces is not supported'),
])
def test_bad_line_errors_name_file_and_line(tmp_path, data, lineno, reason):
    ann = _write(tmp_path, data)
    with pytest.raises(AnnotationError) as info:
        _build(ann, str(tmp_path))  # at build time, not at the first batch
    assert info.value.path == ann and info.value.lineno == lineno
    assert str(info.value).startswith(f'{ann}:{lineno}: ')
    assert reason in str(info.value)


def test_missing_label_field_is_accepted_for_pretraining(tmp_path):
    """Labels are optional (pretraining ignores them): a path alone is a
    valid line, and a labelled list may mix both."""
    items = parse_video_list(_write(tmp_path, b'a.mp4\nb.mp4 2\n'))
    assert items == [dict(filename='a.mp4'), dict(filename='b.mp4', label=2)]


def test_extra_spaces_and_blank_lines(tmp_path):
    ann = _write(tmp_path, b'  a.mp4\t 1  \n\n   \n\tb.mp4  2 3\r\n\n')
    dataset = _build(ann, '/videos')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [d['filename'] for d in infos] == ['/videos/a.mp4',
                                              '/videos/b.mp4']
    assert [d['label'] for d in infos] == [1, [2, 3]]


def test_utf8_paths_are_kept(tmp_path):
    ann = _write(tmp_path, 'vidéo/çlip.mp4 0\n'.encode('utf-8'))
    assert parse_video_list(ann)[0]['filename'] == 'vidéo/çlip.mp4'


def test_empty_or_missing_list(tmp_path):
    with pytest.raises(ValueError, match=r'no videos found in .*empty\.txt'):
        _build(_write(tmp_path, b'\n \n', 'empty.txt'), str(tmp_path))
    missing = str(tmp_path / 'nope.txt')
    with pytest.raises(FileNotFoundError, match=osp.basename(missing)):
        _build(missing, str(tmp_path))


def test_folder_mode_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='video folder not found'):
        _build('', str(tmp_path / 'absent'))
