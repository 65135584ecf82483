"""Frame pairs from tracking sequences, for SiamFC training."""
from typing import List, Optional

import numpy as np
from mmengine.dataset import BaseDataset

from mmaction.registry import DATASETS, TRANSFORMS

__all__ = ['SOTPairDataset']


@DATASETS.register_module()
class SOTPairDataset(BaseDataset):
    """Sample (exemplar, search) frame pairs from a sequence dataset.

    Item ``i`` comes from sequence ``i % num_sequences`` (so one epoch visits
    every sequence ``pairs_per_seq`` times, as the public SiamFC's pair
    sampler); its two frames are drawn at random (``numpy.random``, seeded by
    the Runner) among the frames with a visible target, at most
    ``max_frame_gap`` apart.

    Args:
        dataset (dict): a sequence dataset config, e.g. ``OTBDataset`` or
            ``GOT10kDataset`` (items with ``frame_paths`` and ``gt_bboxes``,
            optionally ``visible``).
        pairs_per_seq (int): pairs per sequence per epoch. Defaults to 1.
        max_frame_gap (int): largest frame distance. Defaults to 100.
        pipeline (list[dict]): e.g. ``LoadSOTPairImages``,
            ``SiamFCPairCrop``, ``PackSiamFCInputs``.

    Produced info keys: ``template_path``, ``template_bbox``,
    ``search_path``, ``search_bbox``, ``video_name``.
    """

    def __init__(self,
                 dataset: dict,
                 pairs_per_seq: int = 1,
                 max_frame_gap: int = 100,
                 pipeline: Optional[List[dict]] = None,
                 **kwargs):
        self.sequence_cfg = dataset
        self.pairs_per_seq = pairs_per_seq
        self.max_frame_gap = max_frame_gap
        kwargs.setdefault('serialize_data', False)
        # build from mmaction's registry, so it works outside a Runner scope
        pipeline = [
            TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in (pipeline or [])
        ]
        super().__init__(pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        seqs = DATASETS.build(self.sequence_cfg)
        out = []
        for i in range(len(seqs)):
            seq = seqs.get_data_info(i)
            gt = np.asarray(seq['gt_bboxes'], dtype=np.float32)
            visible = np.asarray(
                seq.get('visible', np.ones(len(gt), bool)), bool)
            visible &= (gt[:, 2] > 0) & (gt[:, 3] > 0)
            if visible.sum() >= 2:
                out.append(
                    dict(
                        video_name=seq['video_name'],
                        frame_paths=list(seq['frame_paths']),
                        gt_bboxes=gt,
                        valid_ids=np.flatnonzero(visible)))
        if not out:
            raise ValueError(f'no sequence with two visible frames in '
                             f'{self.sequence_cfg}')
        return out

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return len(self.data_list) * self.pairs_per_seq

    def get_data_info(self, idx: int) -> dict:
        seq = self.data_list[idx % len(self.data_list)]
        ids = seq['valid_ids']
        i = int(np.random.choice(ids))
        near = ids[(np.abs(ids - i) <= self.max_frame_gap) & (ids != i)]
        j = int(np.random.choice(near)) if len(near) else i
        return dict(
            video_name=seq['video_name'],
            template_path=seq['frame_paths'][i],
            template_bbox=seq['gt_bboxes'][i],
            search_path=seq['frame_paths'][j],
            search_bbox=seq['gt_bboxes'][j],
            frame_ids=(i, j))
