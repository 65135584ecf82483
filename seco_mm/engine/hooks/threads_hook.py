"""Fix the number of CPU threads so results do not depend on the shell."""
import os
from typing import Optional

import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

__all__ = ['SeCoThreadsHook']


@HOOKS.register_module()
class SeCoThreadsHook(Hook):
    """Set torch's intra-op thread count before anything is computed.

    On CPU, oneDNN/ATen split a convolution's or matmul's reduction over
    the intra-op threads, so the float rounding, and hence every loss after
    the first iteration, depends on the thread count, which torch takes
    from ``OMP_NUM_THREADS`` or the number of cores. With ``num_threads``
    set, ``torch.set_num_threads(num_threads)`` runs in ``before_run``
    (before weights are initialised or a checkpoint is loaded) whatever the
    environment says, so one config gives bit-identical runs on machines of
    one kind (same CPU model / instruction set, same torch build).

    Data-loading workers are not affected: PyTorch runs them with one
    thread each.

    Args:
        num_threads (int, optional): intra-op threads; None leaves torch's
            default (``OMP_NUM_THREADS`` or the core count).
    """

    priority = 'VERY_HIGH'

    def __init__(self, num_threads: Optional[int] = None):
        if num_threads is not None and not (
                isinstance(num_threads, int)
                and not isinstance(num_threads, bool) and num_threads >= 1):
            raise ValueError('SeCoThreadsHook.num_threads must be a positive '
                             f'int or None, got {num_threads!r}')
        self.num_threads = num_threads

    def before_run(self, runner) -> None:
        before = torch.get_num_threads()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        runner.logger.info(
            f'intra-op CPU threads: {torch.get_num_threads()} (fixed by '
            f'SeCoThreadsHook.num_threads={self.num_threads}; was {before}, '
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
            if self.num_threads is not None else
            f'intra-op CPU threads: {before} (from OMP_NUM_THREADS / the '
            'core count: results differ in the last bits between thread '
            'counts; set default_hooks.threads.num_threads to fix it)')
