"""The project's one reader of annotation lists, and the folder scan.

Lists are mmaction2's: ``VideoDataset`` lines ``relative/path.mp4 [label
...]`` and ``RawframeDataset`` lines ``frame_dir total_frames [label ...]``.
Both go through :func:`read_list_lines`, which names the file and line of
anything wrong, decodes UTF-8 and drops a UTF-8 byte-order mark (written
by some Windows editors; read naively it becomes part of the first path).
"""
import os
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine import fileio

__all__ = ['AnnotationError', 'read_list_lines', 'iter_video_list',
           'parse_video_list', 'parse_rawframe_list', 'scan_videos', 'VIDEO_EXTENSIONS']

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.webm', '.mov', '.m4v', '.mpg',
                    '.mpeg', '.flv')

_BOM = b'\xef\xbb\xbf'


class AnnotationError(ValueError):
    """A malformed annotation line; names the file and 1-based line number."""

    def __init__(self, path: str, lineno: int, reason: str):
        self.path, self.lineno, self.reason = path, lineno, reason
        super().__init__(f'{path}:{lineno}: {reason}')


def read_list_lines(ann_file: str, backend_args: Optional[dict] = None
                    ) -> Iterator[Tuple[int, List[str]]]:
    """Yield ``(lineno, fields)`` of each non-blank line of ``ann_file``.

    ``ann_file`` may be local or any mmengine fileio URL. A leading UTF-8
    BOM is dropped; fields are split on any whitespace.

    Raises:
        FileNotFoundError: if ``ann_file`` does not exist.
        AnnotationError: a line that is not valid UTF-8.
    """
    try:
        data = fileio.get(ann_file, backend_args=backend_args)
    except FileNotFoundError:
        raise FileNotFoundError(
            f'annotation file not found: {ann_file}') from None
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    for lineno, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode('utf-8')
        except UnicodeDecodeError as err:
            raise AnnotationError(ann_file, lineno,
                                  f'not valid UTF-8 ({err.reason} at byte '
                                  f'{err.start})') from None
        fields = line.split()
        if fields:
            yield lineno, fields


def _labels(ann_file: str, lineno: int, fields: Sequence[str]):
    try:
        labels = [int(x) for x in fields]
    except ValueError:
        raise AnnotationError(
            ann_file, lineno, f'labels must be integers, got {list(fields)!r}'
            ' (a path with spaces is not supported)') from None
    if any(x < 0 for x in labels):
        raise AnnotationError(ann_file, lineno, f'negative label in {labels}')
    return labels[0] if len(labels) == 1 else labels


def iter_video_list(ann_file: str, backend_args: Optional[dict] = None
                    ) -> Iterator[Tuple[int, dict]]:
    """:func:`parse_video_list` entry by entry, with the 1-based line
    number of each: ``(lineno, dict(filename=...[, label=...]))``, for
    callers whose own checks of an entry must name its line."""
    for lineno, fields in read_list_lines(ann_file, backend_args):
        item = dict(filename=fields[0])
        if len(fields) > 1:
            item['label'] = _labels(ann_file, lineno, fields[1:])
        yield lineno, item


def parse_video_list(ann_file: str, backend_args: Optional[dict] = None
                     ) -> List[dict]:
    """Parse ``relative/path.mp4 [label ...]`` lines; blank lines skipped.

    Labels are optional (pretraining ignores them) but, when present, must be
    integers.

    Returns:
        list[dict]: ``dict(filename=<relative path>[, label=int|list])``.
    Raises:
        AnnotationError: naming ``ann_file`` and the line.
        FileNotFoundError: if ``ann_file`` does not exist.
    """
    return [item for _, item in iter_video_list(ann_file, backend_args)]


def parse_rawframe_list(ann_file: str, backend_args: Optional[dict] = None
                        ) -> List[dict]:
    """Parse ``frame_dir total_frames [label ...]`` lines (RawframeDataset).

    Returns:
        list[dict]: ``dict(frame_dir=<relative dir>, total_frames=int
        [, label=int|list])``.
    Raises:
        AnnotationError: naming ``ann_file`` and the line (missing or
            non-integer frame count, bad labels).
    """
    items = []
    for lineno, fields in read_list_lines(ann_file, backend_args):
        if len(fields) < 2:
            raise AnnotationError(ann_file, lineno, 'expected "frame_dir '
                                  f'total_frames [label]", got {fields!r}')
        try:
            total = int(fields[1])
        except ValueError:
            raise AnnotationError(ann_file, lineno, 'total_frames must be an '
                                  f'integer, got {fields[1]!r}') from None
        if total < 0:
            raise AnnotationError(ann_file, lineno,
                                  f'negative total_frames {total}')
        item = dict(frame_dir=fields[0], total_frames=total)
        if len(fields) > 2:
            item['label'] = _labels(ann_file, lineno, fields[2:])
        items.append(item)
    return items


def scan_videos(root: str, extensions: Sequence[str] = VIDEO_EXTENSIONS
                ) -> List[str]:
    """All video files under ``root`` (recursive), sorted, relative to root.

    Directory symlinks are followed, but each real directory is visited
    once, so a link cycle (``a/loop -> ..``) neither loops nor lists a
    video many times. (``mmengine.utils.scandir`` follows links without
    remembering where it has been, which is why this walk is the project's
    own.)
    """
    if not osp.isdir(root):
        raise FileNotFoundError(f'video folder not found: {root}')
    extensions = tuple(e.lower() for e in extensions)
    found, seen = [], set()
    for dirpath, dirnames, files in os.walk(root, followlinks=True):
        real = osp.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        for name in files:
            if name.lower().endswith(extensions):
                found.append(osp.relpath(osp.join(dirpath, name), root))
    return sorted(found)
