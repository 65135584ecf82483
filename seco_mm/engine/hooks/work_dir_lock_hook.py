"""Refuse a second training run in the same work dir."""
import atexit

from mmaction.registry import HOOKS
from mmengine.dist import (broadcast_object_list, get_world_size,
                           is_main_process)
from mmengine.hooks import Hook

from ..work_dir_lock import WorkDirLock, WorkDirLockedError

__all__ = ['SeCoWorkDirLockHook']


@HOOKS.register_module()
class SeCoWorkDirLockHook(Hook):
    """Hold :class:`~seco_mm.engine.work_dir_lock.WorkDirLock` on
    ``runner.work_dir`` while training.

    Taken first in ``before_train`` (priority ``VERY_HIGH``), before any
    hook writes a checkpoint or removes leftover ``*.tmp`` files, so a
    second run started by mistake stops with :class:`WorkDirLockedError`
    naming the first one (pid, host, start time, command) having only read
    (the checkpoint it resumes from). ``runner.val()`` / ``test()`` write
    no checkpoint and take no lock. The lock is released in ``after_train``
    and, for runs that end with an exception or a signal handled by Python,
    at interpreter exit; a
    SIGKILLed run leaves a stale lock that the next run takes over with a
    warning. Under DDP the main process takes the lock and every rank
    raises if it could not.
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self.lock = None

    def before_train(self, runner) -> None:
        error = None
        if is_main_process():
            self.lock = WorkDirLock(runner.work_dir,
                                    warn=runner.logger.warning)
            try:
                self.lock.acquire()
                atexit.register(self.lock.release)
            except WorkDirLockedError as err:
                error = str(err)
        if get_world_size() > 1:
            box = [error]
            broadcast_object_list(box, src=0)
            error = box[0]
        if error is not None:
            runner.logger.error(error)
            raise WorkDirLockedError(error)

    def after_train(self, runner) -> None:
        if self.lock is not None:
            self.lock.release()
