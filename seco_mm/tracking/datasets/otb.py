"""OTB-100 reader in mmtracking's layout (one data item per sequence).

Layout (as mmtracking's ``OTB100Dataset``)::

    <root>/<Seq>/img/0001.jpg ...          (Board: 00001.jpg ...)
    <root>/<Seq>/groundtruth_rect.txt      (x,y,w,h per frame, 1-based,
                                            comma- or whitespace-separated)
    <info file> otb100_infos.txt           first line a comment, then
        <Seq>/img,<Seq>/groundtruth_rect.txt,<start_frame>,<end_frame>

Special cases of the OTB toolkit kept here: ``Board`` frames are named
``%05d.jpg``; ``Tiger1`` starts at frame 6 and the first 5 rows of its ground
truth are skipped (``initOmit/tiger1.txt``); ``David`` starts at frame 300
(this is in the info file; the folder scan knows it too); ``Diving``,
``Football1``, ``Freeman3``, ``Freeman4`` and ``David`` have more images than
boxes and are cut at the toolkit's end frame. Sequences listed
twice with different annotation files (``Jogging``, ``Skating2``) are named
``Jogging-1``, ``Jogging-2``.

Without an info file the reader scans ``<root>`` for folders holding ``img/``
and ``groundtruth_rect[.N].txt``.
"""
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.dataset import BaseDataset

from mmaction.registry import DATASETS

__all__ = [
    'OTB_INFO_FILE', 'read_gt_file', 'parse_info_file', 'scan_sequences',
    'load_otb_sequences', 'OTBDataset'
]

OTB_INFO_FILE = 'otb100_infos.txt'
_NUMBER = re.compile(r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')
_GT_NAME = re.compile(r'^groundtruth_rect(?:\.(\d+))?\.txt$')
# (first frame number, gt rows to skip) where the img folder does not say it
_SPECIAL_START = {'Tiger1': (6, 5), 'David': (300, 0)}
# last frame where img/ holds more images than the sequence has boxes (the
# OTB toolkit's configSeqs; the same end frames as mmtracking's info file)
_SPECIAL_END = {'David': 770, 'Diving': 215, 'Football1': 74,
                'Freeman3': 460, 'Freeman4': 283}
_FRAME_TEMPLATE = {'Board': '%05d.jpg'}
_DEFAULT_TEMPLATE = '%04d.jpg'


def read_gt_file(path: str, skip: int = 0) -> np.ndarray:
    """Read an OTB ground-truth file.

    Args:
        path: text file, one ``x,y,w,h`` per line; separators may be commas,
            tabs or spaces (OTB mixes them, even within one file).
        skip: leading rows to drop (Tiger1: 5).

    Returns:
        np.ndarray: (N, 4) float32 boxes ``(x, y, w, h)``, 1-based pixels.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'ground-truth file not found: {path}')
    boxes = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            values = _NUMBER.findall(line)
            if len(values) != 4:
                raise ValueError(
                    f'{path}:{lineno}: expected 4 numbers x,y,w,h, got '
                    f'{line.strip()!r}')
            boxes.append([float(v) for v in values])
    if not boxes:
        raise ValueError(f'{path}: no boxes in ground-truth file')
    boxes = np.asarray(boxes, dtype=np.float32)[skip:]
    if len(boxes) == 0:
        raise ValueError(f'{path}: no boxes left after skipping {skip} rows')
    return boxes


def parse_info_file(path: str) -> List[Tuple[str, str, int, int]]:
    """Parse an mmtracking ``otb100_infos.txt``.

    Returns:
        list: ``(video_path, ann_path, start_frame, end_frame)`` per line
        after the comment line; paths use ``/`` as in the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'OTB info file not found: {path}')
    entries = []
    with open(path) as f:
        lines = f.read().splitlines()
    if lines and _looks_like_entry(lines[0]):
        raise ValueError(
            f'{path}:1: {lines[0].strip()!r} looks like a sequence entry, but '
            'line 1 of an mmtracking info file is a header and is skipped, '
            'so this sequence would be dropped; add a header line first '
            '(e.g. "video_path,annotation_path,start_frame_id,'
            'end_frame_id")')
    for lineno, line in enumerate(lines[1:], 2):  # line 1 is a comment
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(',')]
        if len(parts) != 4:
            raise ValueError(
                f'{path}:{lineno}: expected video_path,ann_path,start_frame,'
                f'end_frame, got {line!r}')
        try:
            start, end = int(parts[2]), int(parts[3])
        except ValueError:
            raise ValueError(f'{path}:{lineno}: start/end frame must be '
                             f'integers, got {line!r}') from None
        if end < start:
            raise ValueError(f'{path}:{lineno}: end frame {end} < start '
                             f'frame {start}')
        entries.append((parts[0], parts[1], start, end))
    if not entries:
        raise ValueError(f'{path}: no sequences listed')
    return entries


def _looks_like_entry(line: str) -> bool:
    """``a,b,<int>,<int>``: an info-file entry rather than a header."""
    parts = [p.strip() for p in line.lstrip('\ufeff').split(',')]
    return len(parts) == 4 and all(p.isdigit() for p in parts[2:])


def _seq_folder(video_path: str) -> str:
    """Sequence folder name of ``<Seq>/img`` (any prefix allowed)."""
    parts = [p for p in re.split(r'[\\/]', video_path) if p]
    if parts and parts[-1] in ('img', 'color'):
        parts = parts[:-1]
    if not parts:
        raise ValueError(f'cannot tell the sequence name of {video_path!r}')
    return parts[-1]


def _ann_suffix(ann_path: str) -> Optional[str]:
    m = _GT_NAME.match(osp.basename(ann_path))
    return m.group(1) if m else None


def _make_sequence(root: str, folder: str, video_path: str, ann_path: str,
                   start: int, end: Optional[int], template: str,
                   skip: int, check_files: bool) -> Dict:
    ann_file = osp.join(root, ann_path)
    gt = read_gt_file(ann_file, skip=skip)
    if end is None:
        end = start + len(gt) - 1
    num = end - start + 1
    if len(gt) != num:
        raise ValueError(
            f'{ann_file}: {len(gt)} boxes (after skipping {skip}) but frames '
            f'{start}..{end} are {num}')
    img_dir = osp.join(root, video_path)
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'image folder not found: {img_dir}')
    frames = [osp.join(img_dir, template % i) for i in range(start, end + 1)]
    if check_files:
        for p in frames:
            if not osp.isfile(p):
                raise FileNotFoundError(
                    f'frame file not found: {p} (sequence {folder}, frames '
                    f'{start}..{end}, name template {template!r})')
    return dict(
        video_name=folder,
        frame_paths=frames,
        gt_bboxes=gt,
        start_frame=start,
        end_frame=end,
        ann_path=ann_file)


def _name_duplicates(seqs: List[Dict]) -> List[Dict]:
    counts: Dict[str, int] = {}
    for s in seqs:
        counts[s['video_name']] = counts.get(s['video_name'], 0) + 1
    for s in seqs:
        if counts[s['video_name']] > 1:
            suffix = _ann_suffix(s['ann_path'])
            if suffix is None:
                raise ValueError(
                    f"sequence {s['video_name']} is listed twice but "
                    f"{s['ann_path']} is not groundtruth_rect.<N>.txt")
            s['video_name'] = f"{s['video_name']}-{suffix}"
    return seqs


def _sequences_from_info(root: str, info_file: str,
                         check_files: bool) -> List[Dict]:
    seqs = []
    for video_path, ann_path, start, end in parse_info_file(info_file):
        folder = _seq_folder(video_path)
        template = _FRAME_TEMPLATE.get(folder, _DEFAULT_TEMPLATE)
        skip = _SPECIAL_START.get(folder, (None, 0))[1]
        seqs.append(
            _make_sequence(root, folder, video_path, ann_path, start, end,
                           template, skip, check_files))
    return _name_duplicates(seqs)


def _frame_numbers(img_dir: str) -> Tuple[List[int], str]:
    """Frame numbers in ``img_dir`` and the ``%0Nd.jpg`` template they use."""
    numbers, widths = [], set()
    for name in os.listdir(img_dir):
        stem, ext = osp.splitext(name)
        if ext.lower() in ('.jpg', '.jpeg', '.png') and stem.isdigit():
            numbers.append(int(stem))
            widths.add((len(stem), ext))
    if not numbers:
        raise FileNotFoundError(f'no numbered frames (e.g. 0001.jpg) in '
                                f'{img_dir}')
    if len(widths) != 1:
        raise ValueError(f'{img_dir}: mixed frame name formats {widths}')
    width, ext = widths.pop()
    return sorted(numbers), f'%0{width}d{ext}'


def scan_sequences(root: str, check_files: bool = True) -> List[Dict]:
    """Find OTB-layout sequences under ``root`` without an info file.

    A sequence is a folder with ``img/`` and one or more non-empty
    ``groundtruth_rect[.N].txt``; frames start at the first frame in
    ``img/`` (Tiger1: 6, David: 300) and run for as many frames as boxes.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(f'OTB data folder not found: {root}')
    seqs = []
    for folder in sorted(os.listdir(root)):
        seq_dir = osp.join(root, folder)
        if not osp.isdir(osp.join(seq_dir, 'img')):
            continue
        gt_names = sorted(
            n for n in os.listdir(seq_dir)
            if _GT_NAME.match(n) and osp.getsize(osp.join(seq_dir, n)) > 0)
        if not gt_names:
            raise FileNotFoundError(
                f'{seq_dir} has img/ but no groundtruth_rect.txt')
        numbers, template = _frame_numbers(osp.join(seq_dir, 'img'))
        start, skip = _SPECIAL_START.get(folder, (numbers[0], 0))
        end = _SPECIAL_END.get(folder)
        for gt_name in gt_names:
            seq = _make_sequence(root, folder, f'{folder}/img',
                                 f'{folder}/{gt_name}', start, end, template,
                                 skip, check_files)
            on_disk = sum(1 for n in numbers
                          if start <= n and (end is None or n <= end))
            if on_disk > len(seq['frame_paths']):
                raise ValueError(
                    f"{seq['ann_path']}: {len(seq['gt_bboxes'])} boxes "
                    f'(after skipping {skip}) but {seq_dir}/img holds '
                    f'{on_disk} frames from frame {start}: the sequence '
                    f'would be evaluated on its first '
                    f"{len(seq['gt_bboxes'])} frames only. Complete the "
                    'ground truth, or list the sequence in an '
                    f'{OTB_INFO_FILE} with its end frame')
            seqs.append(seq)
    if not seqs:
        raise FileNotFoundError(
            f'no OTB sequences (<Seq>/img/ + <Seq>/groundtruth_rect.txt) '
            f'and no {OTB_INFO_FILE} under {root}')
    return _name_duplicates(seqs)


def load_otb_sequences(root: str,
                       ann_file: Optional[str] = None,
                       check_files: bool = True) -> List[Dict]:
    """Load OTB-layout sequences.

    Args:
        root: folder holding the sequence folders.
        ann_file: mmtracking info file; ``None`` looks for
            ``root/otb100_infos.txt`` and ``root/annotations/otb100_infos.txt``
            and scans the folders when neither exists.
        check_files: verify every frame file exists (clear error naming the
            first missing path).

    Returns:
        list[dict]: per sequence ``video_name``, ``frame_paths`` (N paths),
        ``gt_bboxes`` (N, 4) float32 ``(x, y, w, h)`` 1-based,
        ``start_frame``, ``end_frame``, ``ann_path``.
    """
    if ann_file is None:
        for cand in (osp.join(root, OTB_INFO_FILE),
                     osp.join(root, 'annotations', OTB_INFO_FILE)):
            if osp.isfile(cand):
                ann_file = cand
                break
    if ann_file is None:
        return scan_sequences(root, check_files)
    return _sequences_from_info(root, ann_file, check_files)


@DATASETS.register_module()
class OTBDataset(BaseDataset):
    """OTB-100 (or any OTB-layout folder) as an mmengine dataset.

    One item per sequence (the OPE unit), with the keys of
    :func:`load_otb_sequences`. Follows mmtracking's arguments: ``data_root``,
    ``ann_file`` (relative to ``data_root``; empty: found or scanned) and
    ``data_prefix=dict(img_path=...)`` (sequence folders, relative to
    ``data_root``).

    Args:
        check_files (bool): verify that all frame files exist at load time.
        sequences (list[str], optional): keep only these sequence names.
    """

    def __init__(self,
                 ann_file: str = '',
                 data_root: str = '',
                 data_prefix: dict = dict(img_path=''),
                 check_files: bool = True,
                 sequences: Optional[List[str]] = None,
                 **kwargs):
        self.check_files = check_files
        self.sequences = sequences
        kwargs.setdefault('serialize_data', False)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_prefix.get('img_path', '') or self.data_root
        seqs = load_otb_sequences(root, self.ann_file or None,
                                  self.check_files)
        if self.sequences is not None:
            by_name = {s['video_name']: s for s in seqs}
            missing = [n for n in self.sequences if n not in by_name]
            if missing:
                raise KeyError(f'sequences {missing} not found under {root}')
            seqs = [by_name[n] for n in self.sequences]
        return seqs
