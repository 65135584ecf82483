"""Writing demo data in the layouts mmaction2 and mmtracking read.

* Videos: mp4 (fourcc ``mp4v``) through OpenCV; annotation lists in
  mmaction2's ``VideoDataset`` format, ``<relative path> <label>`` per line.
* Tracking: OTB-100 folders ``<Seq>/img/0001.jpg ...`` with
  ``<Seq>/groundtruth_rect.txt`` (``x,y,w,h`` per frame, 1-based pixel
  coordinates as in OTB) and mmtracking's ``otb100_infos.txt`` (a comment
  line, then ``<Seq>/img,<Seq>/groundtruth_rect.txt,1,<num_frames>``).

Frames passed in are uint8 RGB; OpenCV wants BGR, converted here.
"""
import os
import os.path as osp
from typing import Iterable, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'write_mp4', 'write_lines', 'write_otb_sequence', 'write_otb_infos',
    'OTB_INFO_HEADER'
]

OTB_INFO_HEADER = ('The format of each line in this txt is '
                   '(video_path,annotation_path,start_frame_id,end_frame_id)')


def write_mp4(path: str, frames: np.ndarray, fps: float = 25.0) -> None:
    """Encode uint8 RGB frames (T, H, W, 3) to an mp4v file at ``path``."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f'{path}: frames must be uint8 (T, H, W, 3), got '
                         f'{frames.dtype} {frames.shape}')
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot open an mp4v writer for {path}; '
                           'is this OpenCV build missing FFmpeg?')
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def write_lines(path: str, lines: Iterable[str]) -> None:
    """Write text lines, each ended by a newline."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)


def write_otb_sequence(root: str,
                       name: str,
                       frames: np.ndarray,
                       boxes: np.ndarray,
                       jpeg_quality: int = 95) -> None:
    """Write ``root/<name>/img/%04d.jpg`` and ``groundtruth_rect.txt``.

    Args:
        frames (np.ndarray): uint8 (T, H, W, 3) RGB.
        boxes (np.ndarray): (T, 4) 0-based integer (x, y, w, h); written
            1-based (x + 1, y + 1, w, h) as OTB does.
    """
    if len(frames) != len(boxes):
        raise ValueError(
            f'{name}: {len(frames)} frames but {len(boxes)} boxes')
    img_dir = osp.join(root, name, 'img')
    os.makedirs(img_dir, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    for i, frame in enumerate(frames, start=1):
        path = osp.join(img_dir, f'{i:04d}.jpg')
        if not cv2.imwrite(path, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                           params):
            raise RuntimeError(f'cannot write {path}')
    write_lines(
        osp.join(root, name, 'groundtruth_rect.txt'),
        (f'{x + 1},{y + 1},{w},{h}'
         for x, y, w, h in np.asarray(boxes, np.int64).tolist()))


def write_otb_infos(root: str, sequences: Sequence[Tuple[str, int]]) -> str:
    """Write mmtracking's ``otb100_infos.txt`` for (name, num_frames) pairs."""
    path = osp.join(root, 'otb100_infos.txt')
    write_lines(
        path, [OTB_INFO_HEADER] +
        [f'{n}/img,{n}/groundtruth_rect.txt,1,{num}' for n, num in sequences])
    return path
