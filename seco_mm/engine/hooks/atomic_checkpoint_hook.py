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
from ..mmengine_internals import resume_request
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
    - leftover ``*.pth.tmp`` files of a killed save are removed at start;
    - :meth:`save_now` writes ``iter_N.pth`` at any iteration through the
      same atomic path (used by ``SeCoPreemptionHook`` on SIGTERM); such a
      file is removed once the next regular checkpoint is complete.

    ``_save_checkpoint_with_step`` is a copy of mmengine's private method
    with the deletion moved after the save; its upstream source is pinned
    in ``seco_mm/engine/mmengine_internals.py`` (a test fails when mmengine
    changes it).

    Remote backends (``backend_args`` other than local files) fall back to
    mmengine's behaviour, as does ``save_best``.
    """

    def before_run(self, runner) -> None:
        super().before_run(runner)
        resume, load_from = resume_request(runner)
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

        self._write(runner, ckpt_filename, meta)
        if not is_main_process():
            return
        for old in to_remove:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path) and path != final:
                os.remove(path)
        # an iteration checkpoint written on SIGTERM is superseded now
        preempted = runner.message_hub.get_info(self.PREEMPT_KEY)
        if preempted and osp.isfile(preempted) and preempted != final:
            os.remove(preempted)
        runner.message_hub.update_info(self.PREEMPT_KEY, None)

    PREEMPT_KEY = 'seco_preempt_ckpt'

    def save_now(self, runner) -> str:
        """Save ``iter_<N>.pth`` after the current iteration, atomically,
        and point ``last_checkpoint`` at it; N = iterations done.

        The meta records the unfinished epoch (``epoch = runner.epoch``), so
        a resume re-enters that epoch and ``SeCoPreemptionHook`` skips the
        batches already trained. Returns the file's path.
        """
        step = runner.iter + 1
        filename = f'iter_{step}.pth'
        final = osp.join(self.out_dir, filename)
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)
        runner.message_hub.update_info(self.PREEMPT_KEY, final)
        if not self._atomic():
            runner.save_checkpoint(
                self.out_dir, filename, self.file_client_args,
                save_optimizer=True, save_param_scheduler=True,
                meta=dict(epoch=runner.epoch, iter=step), by_epoch=False,
                backend_args=self.backend_args, **self.args)
            return final
        self._write(runner, filename, dict(epoch=runner.epoch, iter=step))
        return final

    def _write(self, runner, filename: str, meta: dict) -> None:
        """``runner.save_checkpoint`` to ``filename.tmp``, then the atomic
        rename and the ``last_checkpoint`` marker (main process)."""
        runner.save_checkpoint(  # master_only inside
            self.out_dir,
            filename + TMP_SUFFIX,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        final = osp.join(self.out_dir, filename)
        atomic_replace(final + TMP_SUFFIX, final)
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), final)
