"""Report unreadable videos skipped by the dataset; stop when too many."""
from typing import List, Optional, Tuple

import torch
from mmaction.registry import HOOKS
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from ...datasets.seco_video_dataset import BAD_VIDEOS_KEY
from ...datasets.utils import unwrap_dataset
from ..mmengine_internals import resume_request

__all__ = ['SeCoBadSampleHook', 'BadSampleLimitError']

DEFAULT_MAX_BAD_FRACTION = 0.01
DEFAULT_MIN_SAMPLES = 1000


class BadSampleLimitError(RuntimeError):
    """Too large a fraction of the training videos could not be read."""


def bad_videos_in_batch(data_batch) -> Tuple[int, List[tuple]]:
    """Count a collated batch's samples and list its skipped videos.

    Args:
        data_batch: ``dict(inputs=..., data_samples=[B samples])`` as
            collated by ``pseudo_collate``.
    Returns:
        tuple: ``(B, [(path, reason), ...])``; the list holds every failure
        that the workers replaced while producing this batch.
    """
    samples = data_batch.get('data_samples') if isinstance(
        data_batch, dict) else None
    if not samples:
        return 0, []
    bad = []
    for sample in samples:
        metainfo = getattr(sample, 'metainfo', {}) or {}
        bad.extend(tuple(x) for x in metainfo.get(BAD_VIDEOS_KEY, ()))
    return len(samples), bad


@HOOKS.register_module()
class SeCoBadSampleHook(Hook):
    """Warn once per unreadable video, log the count, enforce a limit.

    ``SeCoVideoDataset`` skips videos that raise ``VideoReadError`` inside
    the data-loading workers and attaches ``(path, reason)`` of each skipped
    video to the sample that replaced it. This hook runs in the main process
    before every training iteration:

    - logs ``skipped unreadable video <path>: <reason>`` the first time a
      file fails (later failures of the same file are only counted);
    - writes the running total to the message hub as ``train/bad_samples``,
      so it appears in the text and JSON training logs;
    - after ``min_samples`` fetched samples (good + bad), raises
      :class:`BadSampleLimitError` if ``bad / fetched > max_bad_fraction``;
    - at the end of every epoch, applies the same limit whatever the count
      (a small list with 42 % unreadable videos never reaches
      ``min_samples`` but must not train to exit code 0).

    Counts are summed over processes under DDP (so every rank stops
    together) and saved in checkpoints (``--resume`` keeps them).

    Args:
        max_bad_fraction (float, optional): the limit; None reads the train
            dataset's ``max_bad_fraction`` (default 0.01).
        min_samples (int, optional): fetched samples before the limit
            applies; None reads the dataset's ``bad_check_min_samples``
            (default 1000).
    """

    priority = 'HIGH'
    CKPT_KEY = 'seco_bad_samples'

    def __init__(self, max_bad_fraction: Optional[float] = None,
                 min_samples: Optional[int] = None):
        if max_bad_fraction is not None and not (
                0.0 <= float(max_bad_fraction) <= 1.0):
            raise ValueError('SeCoBadSampleHook.max_bad_fraction must be in '
                             f'[0, 1], got {max_bad_fraction!r}')
        if min_samples is not None and int(min_samples) < 1:
            raise ValueError('SeCoBadSampleHook.min_samples must be >= 1, '
                             f'got {min_samples!r}')
        self.max_bad_fraction = max_bad_fraction
        self.min_samples = min_samples
        self.num_fetched = 0  # good + bad, summed over ranks
        self.num_bad = 0
        self.reported = set()  # paths already warned about (this rank)

    def before_train(self, runner) -> None:
        dataset = unwrap_dataset(runner.train_dataloader.dataset)
        if self.max_bad_fraction is None:
            self.max_bad_fraction = float(getattr(
                dataset, 'max_bad_fraction', DEFAULT_MAX_BAD_FRACTION))
        if self.min_samples is None:
            self.min_samples = int(getattr(
                dataset, 'bad_check_min_samples', DEFAULT_MIN_SAMPLES))

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        num_good, bad = bad_videos_in_batch(data_batch)
        for path, reason in bad:
            if path not in self.reported:
                self.reported.add(path)
                runner.logger.warning(
                    f'skipped unreadable video {path}: {reason} (replaced by '
                    'another sample; later failures of this file are only '
                    'counted in bad_samples)')
        fetched, num_bad = num_good + len(bad), len(bad)
        if get_world_size() > 1:
            counts = torch.tensor([fetched, num_bad], dtype=torch.float64)
            all_reduce(counts)
            fetched, num_bad = int(counts[0]), int(counts[1])
        self.num_fetched += fetched
        self.num_bad += num_bad
        runner.message_hub.update_scalar('train/bad_samples', self.num_bad)
        self._check_limit(runner)

    def after_train_epoch(self, runner) -> None:
        self._check_limit(runner, end_of_epoch=True)

    def _check_limit(self, runner, end_of_epoch: bool = False) -> None:
        if self.num_bad == 0 or (self.num_fetched < self.min_samples
                                 and not end_of_epoch):
            return
        fraction = self.num_bad / self.num_fetched
        if fraction <= self.max_bad_fraction:
            return
        examples = ', '.join(sorted(self.reported)[:5])
        when = (f'checked at the end of epoch {runner.epoch + 1}'
                if end_of_epoch else
                f'checked after {self.min_samples} samples')
        msg = (f'{self.num_bad} of {self.num_fetched} fetched training '
               f'samples ({fraction:.2%}) were unreadable videos, more than '
               f'max_bad_fraction={self.max_bad_fraction:.2%} ({when}); '
               f'stopping at iteration {runner.iter + 1}. '
               f'{len(self.reported)} distinct files on '
               f'this process, e.g. {examples}. Fix or remove them from the '
               'annotation list, or raise '
               'train_dataloader.dataset.max_bad_fraction.')
        runner.logger.error(msg)
        raise BadSampleLimitError(msg)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[self.CKPT_KEY] = dict(
            num_fetched=self.num_fetched, num_bad=self.num_bad,
            reported=sorted(self.reported))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(self.CKPT_KEY)
        if state is None or not resume_request(runner)[0]:
            return  # a new run (load_from) starts counting from zero
        self.num_fetched = int(state['num_fetched'])
        self.num_bad = int(state['num_bad'])
        self.reported = set(state['reported'])
