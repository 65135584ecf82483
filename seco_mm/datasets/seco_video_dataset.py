"""Video lists for self-supervised pretraining: labelled, unlabelled, folders."""
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmaction.datasets import BaseActionDataset
from mmaction.registry import DATASETS

__all__ = ['SeCoVideoDataset', 'AnnotationError', 'parse_video_list']

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.webm', '.mov', '.m4v', '.mpg',
                    '.mpeg', '.flv')


class AnnotationError(ValueError):
    """A malformed annotation line; names the file and 1-based line number."""

    def __init__(self, path: str, lineno: int, reason: str):
        self.path, self.lineno = path, lineno
        super().__init__(f'{path}:{lineno}: {reason}')


def parse_video_list(ann_file: str) -> List[dict]:
    """Parse ``relative/path.mp4 [label ...]`` lines; blank lines are skipped.

    Labels are optional (pretraining ignores them) but, when present, must be
    integers. Any leading/trailing or repeated whitespace is tolerated.

    Returns:
        list[dict]: ``dict(filename=<relative path>[, label=int])`` per line.
    Raises:
        AnnotationError: naming ``ann_file`` and the line.
        FileNotFoundError: if ``ann_file`` does not exist.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    with open(ann_file, 'rb') as f:
        raw_lines = f.read().splitlines()
    items = []
    for lineno, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode('utf-8')
        except UnicodeDecodeError as err:
            raise AnnotationError(ann_file, lineno,
                                  f'not valid UTF-8 ({err.reason} at byte '
                                  f'{err.start})') from None
        fields = line.split()
        if not fields:
            continue
        item = dict(filename=fields[0])
        if len(fields) > 1:
            try:
                labels = [int(x) for x in fields[1:]]
            except ValueError:
                raise AnnotationError(
                    ann_file, lineno, f'labels must be integers, got '
                    f'{fields[1:]!r} (a path with spaces is not supported)'
                ) from None
            if any(x < 0 for x in labels):
                raise AnnotationError(ann_file, lineno,
                                      f'negative label in {labels}')
            item['label'] = labels[0] if len(labels) == 1 else labels
        items.append(item)
    return items


def scan_videos(root: str, extensions: Sequence[str] = VIDEO_EXTENSIONS
                ) -> List[str]:
    """All video files under ``root`` (recursive), sorted, relative to root."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'video folder not found: {root}')
    found = []
    for dirpath, _, files in os.walk(root, followlinks=True):
        for name in files:
            if name.lower().endswith(tuple(extensions)):
                found.append(osp.relpath(osp.join(dirpath, name), root))
    return sorted(found)


@DATASETS.register_module()
class SeCoVideoDataset(BaseActionDataset):
    """Videos for SeCo pretraining; labels are optional and unused.

    Three ways to name the videos:
      - ``ann_file`` with mmaction2 ``VideoDataset`` lines
        (``relative/path.mp4 label``): labels are kept but not needed;
      - ``ann_file`` with one path per line (no labels);
      - ``ann_file=''`` and ``data_prefix=dict(video=FOLDER)``: every file
        under FOLDER with a video extension, recursively.

    Produces ``dict(filename=<absolute path>[, label])`` per video.

    Args:
        ann_file (str): annotation list, or '' to scan ``data_prefix``.
        pipeline (list): the SeCo pipeline.
        data_prefix (dict): ``dict(video=ROOT)``, prefixed to list paths.
        extensions (Sequence[str]): extensions scanned in folder mode.
    """

    def __init__(self, ann_file: str = '', pipeline: list = (),
                 data_prefix: dict = dict(video=''),
                 extensions: Sequence[str] = VIDEO_EXTENSIONS,
                 **kwargs):
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(ann_file, pipeline=list(pipeline),
                         data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_prefix.get('video', '') or ''
        if self.ann_file:
            items = parse_video_list(self.ann_file)
            source = self.ann_file
        else:
            items = [dict(filename=p) for p in scan_videos(root, self.extensions)]
            source = f'folder {root}'
        if not items:
            raise ValueError(f'no videos found in {source}')
        for item in items:
            item['filename'] = osp.join(root, item['filename'])
        return items
