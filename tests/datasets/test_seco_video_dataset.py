"""SeCoVideoDataset: labelled lists, unlabelled lists, folders, bad lines."""
import pytest

from seco_mm.datasets import AnnotationError, SeCoVideoDataset


def test_labelled_list(tiny_video_dir):
    ds = SeCoVideoDataset(ann_file=str(tiny_video_dir / 'train.txt'),
                          data_prefix=dict(video=str(tiny_video_dir)))
    assert len(ds) == 8
    info = ds.get_data_info(3)
    assert info['filename'] == str(tiny_video_dir / 'class1' / 'vid3.mp4')
    assert info['label'] == 1


def test_unlabelled_list_with_blank_lines_and_spaces(tiny_video_dir, tmp_path):
    ann = tmp_path / 'paths.txt'
    ann.write_text('class0/vid0.mp4\n\n   class1/vid1.mp4   \n\n')
    ds = SeCoVideoDataset(ann_file=str(ann),
                          data_prefix=dict(video=str(tiny_video_dir)))
    assert [ds.get_data_info(i)['filename'] for i in range(len(ds))] == [
        str(tiny_video_dir / 'class0' / 'vid0.mp4'),
        str(tiny_video_dir / 'class1' / 'vid1.mp4')]
    assert 'label' not in ds.get_data_info(0)


def test_folder_scan_is_recursive_and_sorted(tiny_video_dir):
    ds = SeCoVideoDataset(ann_file='',
                          data_prefix=dict(video=str(tiny_video_dir)))
    names = [ds.get_data_info(i)['filename'] for i in range(len(ds))]
    assert len(names) == 8 and names == sorted(names)
    assert all(n.endswith('.mp4') for n in names)


@pytest.mark.parametrize('content,lineno,match', [
    (b'a.mp4 1\nb.mp4 x\n', 2, 'integers'),
    (b'a.mp4 1\n\nb\xff\xfe.mp4 0\n', 3, 'UTF-8'),
    (b'a.mp4 -1\n', 1, 'negative'),
])
def test_malformed_lines_name_file_and_line(tmp_path, content, lineno, match):
    ann = tmp_path / 'bad.txt'
    ann.write_bytes(content)
    with pytest.raises(AnnotationError, match=match) as err:
        SeCoVideoDataset(ann_file=str(ann), data_prefix=dict(video=''))
    assert str(err.value).startswith(f'{ann}:{lineno}:')


def test_missing_inputs_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match='annotation file not found'):
        SeCoVideoDataset(ann_file=str(tmp_path / 'nope.txt'))
    with pytest.raises(FileNotFoundError, match='video folder not found'):
        SeCoVideoDataset(ann_file='', data_prefix=dict(video=str(tmp_path / 'x')))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='no videos found'):
        SeCoVideoDataset(ann_file='', data_prefix=dict(video=str(tmp_path / 'empty')))
