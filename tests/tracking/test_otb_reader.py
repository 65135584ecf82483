"""OTB-100 / GOT-10k readers: layouts, special cases and clear errors."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from trk_helpers import make_sequence, write_info_file

from mmaction.registry import DATASETS
from seco_mm.tracking.datasets import (load_got10k_sequences,
                                       load_otb_sequences, parse_info_file,
                                       read_gt_file)


def test_gt_separators(tmp_path):
    rows = [[1, 2, 30, 40], [5, 6.5, 31, 41], [-3, 8, 32, 42]]
    expected = np.array(rows, dtype=np.float32)
    for name, text in {
            'comma': '\n'.join(','.join(str(v) for v in r) for r in rows),
            'tab': '\n'.join('\t'.join(str(v) for v in r) for r in rows),
            'space': '\n'.join('  '.join(str(v) for v in r) for r in rows),
            'mixed': '1,2,30,40\n5\t6.5\t31\t41\n-3 8,32\t42\n\n',
    }.items():
        p = tmp_path / f'{name}.txt'
        p.write_text(text)
        np.testing.assert_array_equal(read_gt_file(str(p)), expected)
    np.testing.assert_array_equal(
        read_gt_file(str(tmp_path / 'comma.txt'), skip=2), expected[2:])


def test_gt_errors_name_file_and_line(tmp_path):
    p = tmp_path / 'gt.txt'
    p.write_text('1,2,3,4\n1,2,3\n')
    with pytest.raises(ValueError, match=r'gt\.txt:2: expected 4 numbers'):
        read_gt_file(str(p))
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        read_gt_file(str(tmp_path / 'nope.txt'))


def test_info_file_with_board_and_tiger1(tmp_path):
    root = str(tmp_path)
    gt_plain = make_sequence(root, 'Plain', num_frames=6, seed=0)
    gt_board = make_sequence(root, 'Board', num_frames=5, seed=1,
                             template='%05d.jpg', sep='\t')
    # Tiger1: frames 1..12 on disk, 12 gt rows, tracked from frame 6
    gt_tiger = make_sequence(root, 'Tiger1', num_frames=7, seed=2, start=6,
                             skip_rows=5)
    write_info_file(root, [('Plain/img', 'Plain/groundtruth_rect.txt', 1, 6),
                           ('Board/img', 'Board/groundtruth_rect.txt', 1, 5),
                           ('Tiger1/img', 'Tiger1/groundtruth_rect.txt', 6,
                            12)])
    seqs = {s['video_name']: s for s in load_otb_sequences(root)}
    assert list(seqs) == ['Plain', 'Board', 'Tiger1']
    assert seqs['Board']['frame_paths'][0].endswith('img/00001.jpg')
    assert seqs['Plain']['frame_paths'][-1].endswith('img/0006.jpg')
    tiger = seqs['Tiger1']
    assert tiger['frame_paths'][0].endswith('img/0006.jpg')
    assert len(tiger['frame_paths']) == 7
    np.testing.assert_array_equal(tiger['gt_bboxes'], gt_tiger)
    np.testing.assert_array_equal(seqs['Board']['gt_bboxes'], gt_board)
    np.testing.assert_array_equal(seqs['Plain']['gt_bboxes'], gt_plain)

    # without the info file the folder scan finds the same sequences
    os.remove(osp.join(root, 'otb100_infos.txt'))
    scanned = {s['video_name']: s for s in load_otb_sequences(root)}
    assert sorted(scanned) == sorted(seqs)
    for name, seq in seqs.items():
        assert scanned[name]['frame_paths'] == seq['frame_paths']
        np.testing.assert_array_equal(scanned[name]['gt_bboxes'],
                                      seq['gt_bboxes'])


def test_info_file_in_annotations_dir_and_duplicates(tmp_path):
    root = str(tmp_path)
    make_sequence(root, 'Jogging', num_frames=4, seed=0)
    src = osp.join(root, 'Jogging', 'groundtruth_rect.txt')
    for k in (1, 2):
        os.link(src, osp.join(root, 'Jogging', f'groundtruth_rect.{k}.txt'))
    os.remove(src)
    os.makedirs(osp.join(root, 'annotations'))
    write_info_file(root, [('Jogging/img', f'Jogging/groundtruth_rect.{k}.txt',
                            1, 4) for k in (1, 2)])
    os.rename(osp.join(root, 'otb100_infos.txt'),
              osp.join(root, 'annotations', 'otb100_infos.txt'))
    names = [s['video_name'] for s in load_otb_sequences(root)]
    assert names == ['Jogging-1', 'Jogging-2']
    # mmtracking-style arguments through the registry
    ds = DATASETS.build(
        dict(type='OTBDataset', data_root=root,
             ann_file='annotations/otb100_infos.txt',
             sequences=['Jogging-2']))
    assert len(ds) == 1 and ds[0]['video_name'] == 'Jogging-2'


def test_missing_files_raise_clear_errors(tmp_path):
    root = str(tmp_path)
    make_sequence(root, 'Seq', num_frames=5, seed=0)
    write_info_file(root, [('Seq/img', 'Seq/groundtruth_rect.txt', 1, 5)])
    os.remove(osp.join(root, 'Seq', 'img', '0003.jpg'))
    with pytest.raises(FileNotFoundError, match=r'Seq/img/0003\.jpg'):
        load_otb_sequences(root)
    with pytest.raises(FileNotFoundError, match='OTB info file not found'):
        load_otb_sequences(root, ann_file=osp.join(root, 'missing.txt'))
    with pytest.raises(FileNotFoundError, match='OTB data folder not found'):
        load_otb_sequences(osp.join(root, 'nowhere'))
    write_info_file(root, [('Seq/img', 'Seq/gt_missing.txt', 1, 5)])
    with pytest.raises(FileNotFoundError, match=r'Seq/gt_missing\.txt'):
        load_otb_sequences(root)
    write_info_file(root, [('Seq/img', 'Seq/groundtruth_rect.txt', 1, 9)])
    with pytest.raises(ValueError, match='5 boxes .* frames 1..9 are 9'):
        load_otb_sequences(root)
    write_info_file(root, [('Seq/img', 'Seq/groundtruth_rect.txt', 'one', 5)])
    with pytest.raises(ValueError, match=r'otb100_infos\.txt:2'):
        parse_info_file(osp.join(root, 'otb100_infos.txt'))
    os.remove(osp.join(root, 'otb100_infos.txt'))
    with pytest.raises(FileNotFoundError, match=r'Seq/img/0003\.jpg'):
        load_otb_sequences(root)  # the folder scan checks frames too
    make_sequence(root, 'Seq', num_frames=5, seed=0)
    with pytest.raises(KeyError, match='Nope'):
        DATASETS.build(dict(type='OTBDataset', data_root=root,
                            ann_file='', sequences=['Nope']))


def test_got10k_reader(tmp_path):
    split = tmp_path / 'train'
    seq = split / 'GOT-10k_Train_000001'
    seq.mkdir(parents=True)
    (split / 'list.txt').write_text('GOT-10k_Train_000001\n')
    (seq / 'groundtruth.txt').write_text('1,2,3,4\n2,3,4,5\n3,4,0,0\n')
    (seq / 'absence.label').write_text('0\n1\n0\n')
    [s] = load_got10k_sequences(str(split))
    assert s['frame_paths'][2].endswith('GOT-10k_Train_000001/00000003.jpg')
    np.testing.assert_array_equal(s['visible'], [True, False, False])
    ds = DATASETS.build(dict(type='GOT10kDataset', data_root=str(tmp_path)))
    assert len(ds) == 1
    with pytest.raises(FileNotFoundError, match='list.txt'):
        load_got10k_sequences(str(tmp_path / 'val'))


def test_info_file_without_header_is_an_error(tmp_path):
    """The first line of an info file is skipped as a header; a file that
    starts with an entry would silently lose that sequence."""
    root = str(tmp_path)
    for i, name in enumerate(('First', 'Second')):
        make_sequence(root, name, num_frames=4, seed=i)
    path = osp.join(root, 'otb100_infos.txt')
    with open(path, 'w') as f:
        f.write('First/img,First/groundtruth_rect.txt,1,4\n'
                'Second/img,Second/groundtruth_rect.txt,1,4\n')
    with pytest.raises(ValueError, match=r"otb100_infos\.txt:1: 'First/img,"
                       r".*looks like a sequence entry"):
        load_otb_sequences(root)
    write_info_file(root, [('First/img', 'First/groundtruth_rect.txt', 1, 4),
                           ('Second/img', 'Second/groundtruth_rect.txt', 1,
                            4)])
    assert [s['video_name'] for s in load_otb_sequences(root)] == \
        ['First', 'Second']


def test_ground_truth_shorter_than_the_frames_is_an_error(tmp_path):
    root = str(tmp_path)
    make_sequence(root, 'Short', num_frames=8, seed=0)
    gt_path = osp.join(root, 'Short', 'groundtruth_rect.txt')
    lines = open(gt_path).read().splitlines()
    with open(gt_path, 'w') as f:
        f.write('\n'.join(lines[:6]) + '\n')
    with pytest.raises(ValueError, match=r'Short/groundtruth_rect\.txt: 6 '
                       r'boxes .* holds 8 frames from frame 1'):
        load_otb_sequences(root)  # folder scan: no info file
    # the OTB toolkit's own short sequences are cut at its end frame
    make_sequence(root, 'Diving', num_frames=217, seed=1, obj=10, size=32)
    gt_path = osp.join(root, 'Diving', 'groundtruth_rect.txt')
    lines = open(gt_path).read().splitlines()
    with open(gt_path, 'w') as f:
        f.write('\n'.join(lines[:215]) + '\n')
    shutil.rmtree(osp.join(root, 'Short'))
    [diving] = load_otb_sequences(root)
    assert len(diving['frame_paths']) == 215
    assert diving['frame_paths'][-1].endswith('img/0215.jpg')
