"""GOT-10k reader (SiamFC's training set), one item per sequence.

Layout of the official release::

    <root>/train/list.txt                         sequence names, one a line
    <root>/train/GOT-10k_Train_000001/00000001.jpg ...
    <root>/train/GOT-10k_Train_000001/groundtruth.txt   x,y,w,h per frame
    <root>/train/GOT-10k_Train_000001/absence.label     1 = target absent

Items have the keys of the OTB reader (``video_name``, ``frame_paths``,
``gt_bboxes`` (N, 4) ``(x, y, w, h)``) plus ``visible`` (N,) bool, so
:class:`SOTPairDataset` samples pairs from either.
"""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmengine.dataset import BaseDataset

from mmaction.registry import DATASETS
from .otb import read_gt_file

__all__ = ['load_got10k_sequences', 'GOT10kDataset']


def _read_list(path: str) -> List[str]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'GOT-10k sequence list not found: {path}')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def load_got10k_sequences(split_dir: str,
                          max_sequences: Optional[int] = None) -> List[Dict]:
    """Read ``split_dir/list.txt`` and each listed sequence's annotations.

    Frame files are not stat-ed here (GOT-10k has 1.4M of them); a missing
    frame raises a clear error when it is read.
    """
    names = _read_list(osp.join(split_dir, 'list.txt'))
    if max_sequences is not None:
        names = names[:max_sequences]
    seqs = []
    for name in names:
        seq_dir = osp.join(split_dir, name)
        gt = read_gt_file(osp.join(seq_dir, 'groundtruth.txt'))
        absence = osp.join(seq_dir, 'absence.label')
        if osp.isfile(absence):
            absent = np.loadtxt(absence, dtype=np.int64, ndmin=1)
            if len(absent) != len(gt):
                raise ValueError(f'{absence}: {len(absent)} rows for '
                                 f'{len(gt)} boxes')
            visible = absent == 0
        else:
            visible = np.ones(len(gt), dtype=bool)
        visible &= (gt[:, 2] > 0) & (gt[:, 3] > 0)
        seqs.append(
            dict(
                video_name=name,
                frame_paths=[
                    osp.join(seq_dir, f'{i:08d}.jpg')
                    for i in range(1, len(gt) + 1)
                ],
                gt_bboxes=gt,
                visible=visible))
    return seqs


@DATASETS.register_module()
class GOT10kDataset(BaseDataset):
    """GOT-10k split as an mmengine dataset (one item per sequence).

    Args:
        data_root (str): GOT-10k root (holding ``train/``).
        split (str): sub-folder, ``'train'`` or ``'val'``.
        max_sequences (int, optional): keep the first N listed sequences.
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 max_sequences: Optional[int] = None,
                 **kwargs):
        self.split = split
        self.max_sequences = max_sequences
        kwargs.setdefault('serialize_data', False)
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        return load_got10k_sequences(
            osp.join(self.data_root, self.split), self.max_sequences)
