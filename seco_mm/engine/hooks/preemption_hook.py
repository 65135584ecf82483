"""SIGTERM: save a resumable checkpoint at the current iteration and exit."""
import atexit
import multiprocessing
import os
import signal
from typing import Optional, Sequence

import torch
from mmaction.registry import HOOKS
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler

from .atomic_checkpoint_hook import SeCoCheckpointHook
from .random_state_hook import set_random_state

__all__ = ['SeCoPreemptionHook', 'Preempted']

# exit status of a process ended by SIGTERM (128 + 15), what schedulers and
# shells expect; SLURM requeues on it like on the signal itself
PREEMPTED_EXIT_CODE = 128 + signal.SIGTERM


class Preempted(SystemExit):
    """Raised after the checkpoint is written; exits with status 143."""


class _SkipFirst:
    """Index sampler that drops the first ``skip`` indices once.

    Replaces ``DataLoader.batch_sampler.sampler`` for the first epoch after
    a mid-epoch resume, so the batches already trained are neither trained
    again nor even loaded. Everything else (``set_epoch``, ``len``)
    forwards to the wrapped sampler. ``on_start`` runs when the epoch's
    first index is drawn, i.e. after the DataLoader iterator was created.
    """

    def __init__(self, sampler, skip: int, on_start=None):
        self.sampler, self.skip, self.on_start = sampler, skip, on_start

    def __iter__(self):
        it = iter(self.sampler)
        skip, self.skip = self.skip, 0
        for _ in range(skip):
            next(it, None)
        if self.on_start is not None:
            on_start, self.on_start = self.on_start, None
            on_start()
        return it

    def __len__(self):
        return len(self.sampler)

    def __getattr__(self, name):
        return getattr(self.sampler, name)


# Set in the main process when it starts to exit: from then on the loading
# workers honour SIGTERM again. Python's multiprocessing exit handler ends
# daemonic children (DataLoader workers) with SIGTERM and then joins them
# without a timeout, so workers that kept ignoring it hung every exit (seen:
# ``make demo``'s pretraining, with persistent workers, never returned).
_MAIN_EXITING = None


def _main_exiting():
    """The shared event (created once, in the main process, before the
    workers start), with an exit handler that sets it. Registered after
    ``multiprocessing`` is imported, so it runs before that module's own
    exit handler."""
    global _MAIN_EXITING
    if _MAIN_EXITING is None:
        _MAIN_EXITING = multiprocessing.Event()
        atexit.register(_MAIN_EXITING.set)
    return _MAIN_EXITING


def _worker_signal_handler(exiting):
    def handler(signum, frame):
        if exiting.is_set():  # the main process is exiting: end quietly
            os._exit(0)
        # otherwise a scheduler's signal: the main process saves and exits
    return handler


class _WorkerIgnoresSignals:
    """DataLoader ``worker_init_fn`` wrapper: run the original (mmengine's
    seeding), then ignore ``signals`` in the worker until the main process
    exits.

    PyTorch's workers install a C handler that dies on SIGTERM, and the
    main process then stops with "DataLoader worker ... is killed by
    signal: Terminated" before anything is saved. SLURM signals every
    process of the job, so the workers must outlive the signal. Once the
    main process exits (the ``exiting`` event is set at its exit), the
    signal ends a worker quietly, as multiprocessing's exit handler
    expects; otherwise they end with PyTorch's shutdown or their watchdog.
    """

    def __init__(self, init_fn, signals, exiting):
        self.init_fn, self.signals = init_fn, list(signals)
        self.exiting = exiting

    def __call__(self, worker_id: int) -> None:
        if self.init_fn is not None:
            self.init_fn(worker_id)
        handler = _worker_signal_handler(self.exiting)
        for sig in self.signals:
            signal.signal(sig, handler)


@HOOKS.register_module()
class SeCoPreemptionHook(Hook):
    """Turn SIGTERM into a checkpoint at the current iteration and an exit.

    SLURM (before its kill, ``--signal`` or at the time limit) and
    Kubernetes (pod eviction) send SIGTERM and kill a few seconds later;
    with checkpoints every 5 epochs that loses up to 5 epochs. This hook:

    - installs a SIGTERM handler (in ``before_train``) that only sets a
      flag, and makes the data-loading workers ignore the signal (wrapping
      the loader's ``worker_init_fn``), so a signal sent to the whole
      process group (SLURM) does not kill them before the save;
    - after the current iteration's optimizer step, momentum update and
      scheduler step (priority ``LOWEST``), if the flag is set on any
      process (all-reduced under DDP, so all ranks stop at the same
      iteration), writes ``iter_<N>.pth`` through
      :meth:`SeCoCheckpointHook.save_now` (atomic; ``last_checkpoint``
      names it) and raises :class:`Preempted` (exit status 143);
    - on ``--resume`` from such a checkpoint (epoch-based loop, iteration
      not at an epoch boundary), skips the batches of that epoch already
      trained at the sampler (nothing is loaded twice) and puts the random
      generators back as they were when the checkpoint was written, after
      the DataLoader iterator has drawn its seed, so the rest of the epoch
      sees the same samples and, with ``num_workers=0``, the same
      augmentations as an uninterrupted run.

    A second SIGTERM while the checkpoint is written gets the default
    action (the process ends; the atomic write leaves no partial file).

    Args:
        signals (sequence of str): signal names handled, default
            ``('SIGTERM', )``; e.g. add ``'SIGUSR1'`` for ``sbatch
            --signal=USR1@120``.
    """

    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', )):
        names = [signals] if isinstance(signals, str) else list(signals)
        self.signals = []
        for name in names:
            if not isinstance(name, str) or not isinstance(
                    getattr(signal, name, None), signal.Signals):
                raise ValueError('SeCoPreemptionHook.signals must name '
                                 f'signals such as "SIGTERM", got {name!r}')
            self.signals.append(getattr(signal, name))
        self.received: Optional[int] = None
        self._previous = {}
        self._rng_at_save = None

    # ---- signal -----------------------------------------------------------
    def _handler(self, signum, frame) -> None:
        self.received = signum
        # a second signal ends the process the default way
        signal.signal(signum, signal.SIG_DFL)

    def _install(self) -> None:
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handler)

    def _uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    # ---- resume in the middle of an epoch --------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._rng_at_save = checkpoint.get('rng_state')

    def before_train(self, runner) -> None:
        self._install()
        loop = runner.train_loop
        loader = loop.dataloader
        if loader.num_workers > 0 and not isinstance(
                loader.worker_init_fn, _WorkerIgnoresSignals):
            loader.worker_init_fn = _WorkerIgnoresSignals(
                loader.worker_init_fn, self.signals, _main_exiting())
        if not isinstance(loop, EpochBasedTrainLoop):
            return  # IterBasedTrainLoop skips the consumed batches itself
        per_epoch = len(loop.dataloader)
        done = runner.iter - runner.epoch * per_epoch
        if done <= 0:
            return
        batch_sampler = loop.dataloader.batch_sampler
        if type(batch_sampler) is not BatchSampler:
            raise RuntimeError(
                f'cannot resume in the middle of epoch {runner.epoch + 1} '
                f'(iteration {runner.iter}) with the batch sampler '
                f'{type(batch_sampler).__name__}; resume from an epoch '
                'checkpoint instead')
        rng = self._rng_at_save
        batch_sampler.sampler = _SkipFirst(
            batch_sampler.sampler, done * batch_sampler.batch_size,
            on_start=(lambda: set_random_state(rng)) if rng else None)
        runner.logger.info(
            f'resuming inside epoch {runner.epoch + 1}: skipping its first '
            f'{done} of {per_epoch} batches (already trained; batch numbers '
            'in this epoch\'s log restart at 1)')

    def after_train(self, runner) -> None:
        self._uninstall()

    # ---- save and exit ----------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        flag = self.received is not None
        if get_world_size() > 1:
            votes = torch.tensor([float(flag)])
            all_reduce(votes)
            flag = votes.item() > 0
        if not flag:
            return
        name = (signal.Signals(self.received).name
                if self.received is not None else 'a signal on another rank')
        hook = next((h for h in runner.hooks
                     if isinstance(h, SeCoCheckpointHook)), None)
        if hook is None:
            runner.logger.error(f'received {name}; no SeCoCheckpointHook is '
                                'configured, stopping without a checkpoint')
            raise Preempted(PREEMPTED_EXIT_CODE)
        path = hook.save_now(runner)
        runner.logger.warning(
            f'received {name}: saved {path} after iteration '
            f'{runner.iter + 1} (epoch {runner.epoch + 1}); stopping. '
            'Continue with --resume.')
        self._uninstall()
        raise Preempted(PREEMPTED_EXIT_CODE)
