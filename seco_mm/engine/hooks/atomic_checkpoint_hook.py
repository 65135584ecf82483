"""mmengine's CheckpointHook with crash-safe files and a resume check."""
import glob
import os
import os.path as osp
from collections import deque

from mmaction.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner.checkpoint import find_latest_checkpoint

from ..checkpoint_io import (TMP_SUFFIX, CheckpointError, atomic_replace,
                             atomic_write_text, check_checkpoint_file)
from ..safe_load import check_checkpoint_source

__all__ = ['SeCoCheckpointHook']


@HOOKS.register_module()
class SeCoCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose files are always complete or absent.

    Differences from mmengine 0.10.7's hook (same arguments, same files):

    - the checkpoint is written to ``epoch_N.pth.tmp`` and renamed onto
      ``epoch_N.pth`` after it is flushed, so a kill during the save leaves
      no truncated ``epoch_N.pth``;
    - ``last_checkpoint`` is replaced atomically and only after the rename,
      so it always names a complete file;
    - old checkpoints beyond ``max_keep_ckpts`` are deleted *after* the new
      one is complete (mmengine deletes first: with ``max_keep_ckpts=1`` a
      kill during the save would leave no checkpoint at all);
    - before a resume (or ``load_from``) the file is checked for
      completeness (:func:`check_checkpoint_file`), so a truncated file
      gives a :class:`CheckpointError` naming it instead of a zip error;
    - leftover ``*.pth.tmp`` files of a killed save are removed at start.

    Remote backends (``backend_args`` other than local files) fall back to
    mmengine's behaviour, as does ``save_best``.
    """

    def before_run(self, runner) -> None:
        super().before_run(runner)
        resume = getattr(runner, '_resume', False)
        load_from = getattr(runner, '_load_from', None)
        if resume and load_from is None:
            marker = osp.join(runner.work_dir, 'last_checkpoint')
            path = find_latest_checkpoint(runner.work_dir)
            if path == '':
                raise CheckpointError(marker, 'is empty; pass the checkpoint '
                                      'to resume from explicitly: --resume '
                                      'PATH')
            if path is not None:
                if not osp.isfile(path):
                    raise CheckpointError(path, f'named by {marker} but not '
                                          'found')
                check_checkpoint_file(path)
        elif load_from:  # remote files: scheme checked here, file on load
            check_checkpoint_source(load_from)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._atomic() and is_main_process():
            pattern = osp.join(self.out_dir, '*' + TMP_SUFFIX)
            for stale in glob.glob(pattern):
                runner.logger.warning(
                    f'removing {stale}, left by a checkpoint save that was '
                    'interrupted')
                os.remove(stale)

    def _atomic(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self._atomic():
            return super()._save_checkpoint_with_step(runner, step, meta)
        ckpt_filename = self.filename_tmpl.format(step)
        final = osp.join(self.out_dir, ckpt_filename)
        to_remove = []
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            ids = list(self.keep_ckpt_ids) + [step]
            to_remove = ids[:-self.max_keep_ckpts]
            self.keep_ckpt_ids = deque(ids[-self.max_keep_ckpts:],
                                       self.max_keep_ckpts)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)

        runner.save_checkpoint(  # master_only inside
            self.out_dir,
            ckpt_filename + TMP_SUFFIX,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_replace(final + TMP_SUFFIX, final)
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), final)
        for old in to_remove:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path) and path != final:
                os.remove(path)
