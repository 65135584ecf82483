"""Frame folders (mmaction2's RawframeDataset) with SeCo's bad-sample care."""
import os.path as osp
from typing import List

from mmaction.datasets import RawframeDataset
from mmaction.registry import DATASETS

from .annotation import parse_rawframe_list
from .seco_video_dataset import SkipUnreadableMixin

__all__ = ['SeCoRawframeDataset']


@DATASETS.register_module()
class SeCoRawframeDataset(SkipUnreadableMixin, RawframeDataset):
    """Frame folders for SeCo pretraining (e.g. the reference's 30 frames).

    mmaction2's ``RawframeDataset`` with two changes:

    - a folder whose frames cannot be read (a missing or corrupt JPEG, an
      unreachable URL, fewer frames than SeCo needs) is skipped, counted
      and limited exactly as an unreadable video in ``SeCoVideoDataset``
      (see :class:`SkipUnreadableMixin`); plain ``RawframeDataset`` stops
      training on the first missing JPEG;
    - the list goes through the project's parser
      (:func:`~seco_mm.datasets.annotation.parse_rawframe_list`): errors
      name file and line, a UTF-8 BOM is dropped, labels are optional.

    List lines: ``frame_dir total_frames [label ...]`` (what
    ``tools/extract_frames.py`` writes). Produces ``dict(frame_dir=<ROOT/
    frame_dir>, total_frames, filename_tmpl, start_index, modality
    [, label])`` per folder.

    Args:
        ann_file (str): the list.
        pipeline (list): e.g. ``SeCoSampleIndices -> SeCoRawFrameDecode ->
            SeCoMultiView -> ...``.
        data_prefix (dict): ``dict(img=ROOT)``; ROOT may be a URL.
        filename_tmpl (str): frame file names. Defaults to
            ``'img_{:05}.jpg'`` (mmaction2); the reference's frames are
            ``'frame_{:06}.jpg'``.
        start_index (int): number of the first frame file. Defaults to 1.
        max_bad_fraction (float): see ``SeCoVideoDataset``. Defaults to 0.01.
        bad_check_min_samples (int): see ``SeCoVideoDataset``. Defaults to
            1000.
        **kwargs: the rest of ``RawframeDataset``'s arguments, except
            ``with_offset`` (not supported).
    """

    def __init__(self, ann_file: str, pipeline: list = (),
                 data_prefix: dict = dict(img=''),
                 filename_tmpl: str = 'img_{:05}.jpg',
                 max_bad_fraction: float = 0.01,
                 bad_check_min_samples: int = 1000, **kwargs):
        if kwargs.get('with_offset'):
            raise ValueError('SeCoRawframeDataset does not support '
                             'with_offset=True lists')
        self._init_skipping(max_bad_fraction, bad_check_min_samples)
        super().__init__(ann_file, pipeline=list(pipeline),
                         data_prefix=data_prefix,
                         filename_tmpl=filename_tmpl, **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_prefix.get('img', '') or ''
        items = parse_rawframe_list(self.ann_file)
        if not items:
            raise ValueError(f'no frame folders found in {self.ann_file}')
        for item in items:
            item['frame_dir'] = osp.join(root, item['frame_dir'])
        return items
