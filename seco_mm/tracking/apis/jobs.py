"""Running the independent jobs of a tracking evaluation, and not twice.

tools/eval_tracking.py evaluates one backbone over several seeds: per seed an
untrained tracker, a training run followed by the trained tracker, plus
seed-free reference trackers. These jobs share nothing but their inputs, so

- :func:`run_jobs` runs them in forked worker processes (CPU: each with its
  own torch thread count; one process per core instead of intra-op threads
  on tiny per-frame convolutions, which scale poorly). It uses
  ``concurrent.futures.ProcessPoolExecutor`` rather than
  ``multiprocessing.Pool`` because a worker that dies (killed, out of memory,
  crashed) breaks the executor with an error, where a ``Pool`` waits for its
  result forever;
- :func:`state_fingerprint` names a model by its weights and tracking
  settings, so a tracker identical to one already evaluated (the untrained
  tracker of a loaded backbone is the same for every seed) is evaluated once.

Neither changes the numbers: every job seeds itself and computes what it
computed in one process (tests/tracking/test_eval_tool.py compares the result
files bit for bit). Splitting the threads does change each job's torch thread
count: the demo's tracking results were the same at 1 and 2 threads, except
the logged final training loss in its 7th digit (a multi-threaded sum).
"""
import hashlib
import multiprocessing as mp
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Hashable, Iterable, Iterator, Tuple

import torch

__all__ = ['state_fingerprint', 'can_fork', 'plan_workers', 'run_jobs']

_JOB = None  # the job function, inherited by forked workers


def state_fingerprint(model: torch.nn.Module) -> str:
    """SHA-1 of every parameter and buffer (name, dtype, shape, bytes) and
    of the model's ``test_cfg``: equal fingerprints track identically."""
    h = hashlib.sha1()
    for name, value in model.state_dict().items():
        t = value.detach().cpu().contiguous()
        h.update(f'{name}|{t.dtype}|{tuple(t.shape)}|'.encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else
                 t.view(torch.int16).numpy().tobytes())
    h.update(repr(sorted(getattr(model, 'test_cfg', {}).items())).encode())
    return h.hexdigest()


def can_fork() -> bool:
    """Forked workers are used on Linux only (fork is unsafe elsewhere)."""
    return sys.platform.startswith('linux') and \
        'fork' in mp.get_all_start_methods()


def plan_workers(num_jobs: int, threads: int, workers: int = 0,
                 device: str = 'cpu') -> Tuple[int, int]:
    """(worker processes, torch threads per worker).

    Args:
        num_jobs: independent jobs to run.
        threads: torch CPU threads available in all.
        workers: requested processes; 0 = automatic: one per thread on CPU
            (at most one per job), a single process on CUDA.
        device: ``'cpu'`` or ``'cuda...'``.
    """
    threads = max(1, threads)
    if device != 'cpu' or not can_fork():
        return 1, threads
    if workers <= 0:
        workers = threads
    workers = max(1, min(workers, num_jobs))
    return workers, max(1, threads // workers)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _call(item):
    return item, _JOB(item)


def run_jobs(job: Callable, items: Iterable[Hashable], workers: int = 1,
             threads: int = 1) -> Iterator[Tuple[Hashable, object]]:
    """Yield ``(item, job(item))`` for every item, in completion order.

    With ``workers > 1`` the items run in forked processes, each with
    ``threads`` torch threads; ``job`` and what it reads are inherited, its
    result is sent back pickled. The caller should not have run torch with
    more than one thread before (the OpenMP runtime of a forked child is only
    safe when the parent never started its thread team). An exception in a
    job is raised here and the jobs not yet started are cancelled; a worker
    that dies raises ``RuntimeError`` naming the job it was running.
    """
    global _JOB
    items = list(items)
    if workers <= 1 or len(items) <= 1 or not can_fork():
        for item in items:
            yield item, job(item)
        return
    _JOB = job
    # fork: the workers are started at the first submit, with _JOB set
    pool = ProcessPoolExecutor(min(workers, len(items)),
                               mp_context=mp.get_context('fork'),
                               initializer=_init_worker,
                               initargs=(threads, ))
    try:
        pending = {pool.submit(_call, item): item for item in items}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool as exc:
                    raise RuntimeError(
                        f'a worker process died while running job {item!r} '
                        '(killed, out of memory or crashed); run it in this '
                        'process with --workers 1 to see why') from exc
    finally:
        _JOB = None
        pool.shutdown(wait=True, cancel_futures=True)
