"""Fault injectors registered in mmaction's registries (tests only).

Imported by test configs through ``custom_imports`` (the tests put this
folder on PYTHONPATH), so subprocess runs of tools/train.py can use them.
"""
import os
import signal
import time

from mmaction.registry import HOOKS, TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook


@TRANSFORMS.register_module()
class RelCrashOn(BaseTransform):
    """Kill the loading process with SIGSEGV on files containing ``word``
    (what a crashing native decoder does)."""

    def __init__(self, word: str = 'crash'):
        self.word = word

    def transform(self, results):
        if self.word in os.path.basename(results['filename']):
            os.kill(os.getpid(), signal.SIGSEGV)
        return results


@TRANSFORMS.register_module()
class RelHangOn(BaseTransform):
    """Block for ``seconds`` on files containing ``word`` (a stuck decoder)."""

    def __init__(self, word: str = 'hang', seconds: float = 600):
        self.word, self.seconds = word, seconds

    def transform(self, results):
        if self.word in os.path.basename(results['filename']):
            time.sleep(self.seconds)
        return results


@HOOKS.register_module()
class RelSigkillHook(Hook):
    """SIGKILL this process at a chosen point of training.

    Args:
        after_iter (int, optional): kill right after this (1-based)
            iteration's optimizer step.
        during_save_epoch (int, optional): kill while the checkpoint of
            this epoch is being written, after half of its bytes reached
            the disk.
    """

    priority = 'LOWEST'

    def __init__(self, after_iter=None, during_save_epoch=None):
        self.after_iter = after_iter
        self.during_save_epoch = during_save_epoch

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self.after_iter is not None and runner.iter + 1 == self.after_iter:
            os.kill(os.getpid(), signal.SIGKILL)

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta'].get('epoch') != self.during_save_epoch:
            return
        put = LocalBackend.put

        def half_put_then_die(backend, obj, filepath):
            put(backend, obj[:len(obj) // 2], filepath)
            os.kill(os.getpid(), signal.SIGKILL)

        LocalBackend.put = half_put_then_die


@HOOKS.register_module()
class RelNaNLossHook(Hook):
    """Multiply ``head``'s losses by NaN at 1-based iteration ``at_iter``,
    on process ``rank`` only (None: every process)."""

    def __init__(self, at_iter: int, head: str = 'inter_head', rank=None):
        self.at_iter, self.head, self.rank = at_iter, head, rank

    def before_train(self, runner):
        from mmengine.dist import get_rank
        from mmengine.model import is_model_wrapper
        if self.rank is not None and get_rank() != self.rank:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        module = getattr(model, self.head)
        original = module.loss

        def loss(*args, **kwargs):
            out = original(*args, **kwargs)
            if runner.iter + 1 == self.at_iter:
                out = {k: v * float('nan') if k.startswith('loss') else v
                       for k, v in out.items()}
            return out

        module.loss = loss
