"""The only place where seco-mm depends on private mmengine code.

Two things have no public API in mmengine 0.10.7:

- whether a Runner was told to resume: ``Runner(resume=..., load_from=...)``
  keeps both in private attributes until ``train()`` loads the checkpoint,
  and hooks need them earlier (``before_run``: check the file before
  mmengine opens it) or to tell a resume from a ``load_from`` (both call
  ``after_load_checkpoint``) -> :func:`resume_request`;
- ``CheckpointHook._save_checkpoint_with_step`` deletes old checkpoints
  *before* writing the new one; ``SeCoCheckpointHook`` replaces it with a
  copy that deletes after the atomic rename (its bookkeeping of
  ``keep_ckpt_ids`` / ``last_ckpt`` must stay what mmengine's other methods
  expect).

Every other hook goes through public API (``runner.iter``,
``runner.save_checkpoint``, ``OptimWrapper.backward`` / ``zero_grad``).
``tests/engine/test_mmengine_internals.py`` checks :data:`PRIVATE_READS`
and :data:`COPIED_SOURCES` against the installed mmengine and fails, naming
the function, when an upgrade changes one: then re-read it, adapt this
module or the copy, and update the pin.
"""
import hashlib
import importlib
import inspect
from typing import Optional, Tuple

__all__ = ['COPIED_SOURCES', 'PRIVATE_READS', 'resume_request',
           'source_hash', 'upstream_source']

MMENGINE_VERSION = '0.10.7'  # the version the pins below were taken from

# 'module:qualname' -> lines that must appear in that function's source
PRIVATE_READS = {
    'mmengine.runner.runner:Runner.__init__': (
        'self._load_from = load_from', 'self._resume = resume'),
    'mmengine.runner.runner:Runner.load_or_resume': (
        'if self._resume and self._load_from is None:',
        'elif self._resume and self._load_from is not None:'),
}

# 'module:qualname' -> sha256 (16 hex digits) of the source we copied
COPIED_SOURCES = {
    'mmengine.hooks.checkpoint_hook:CheckpointHook.'
    '_save_checkpoint_with_step': 'cdbc1b54c7c88d95',
}


def upstream_source(target: str) -> str:
    """Source text of ``'module:qualname'`` in the installed mmengine."""
    module_name, qualname = target.split(':')
    obj = importlib.import_module(module_name)
    for part in qualname.split('.'):
        obj = getattr(obj, part)
    return inspect.getsource(obj)


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resume_request(runner) -> Tuple[bool, Optional[str]]:
    """``(resume, load_from)`` as given to the Runner (or its config).

    Valid from construction on, i.e. already in ``before_run``, before
    mmengine loads anything; unchanged by the load itself.
    """
    return bool(getattr(runner, '_resume', False)), getattr(
        runner, '_load_from', None)
