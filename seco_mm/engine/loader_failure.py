"""Name the video behind a crashed or stuck data-loading worker."""
from typing import Optional

from ..datasets.utils import unwrap_dataset

__all__ = ['explain_loader_failure']

_LOADER_ERRORS = ('DataLoader worker', 'DataLoader timed out')


def explain_loader_failure(runner, err: BaseException) -> Optional[str]:
    """Add to ``err`` which videos the workers were reading, if it is a
    worker crash or timeout of the training DataLoader.

    A native decoder that segfaults kills its worker without a Python
    traceback; one that hangs blocks it. The dataset's ``worker_board``
    (see ``SeCoVideoDataset``) still holds ``(pid, path)`` of every sample
    in progress. The note is attached with ``err.add_note`` (shown under the
    traceback) and returned; None when not applicable.
    """
    if not any(key in str(err) for key in _LOADER_ERRORS):
        return None
    try:
        dataset = unwrap_dataset(runner.train_dataloader.dataset)
    except Exception:  # the loader was never built
        return None
    board = getattr(dataset, 'worker_board', None)
    if board is None:
        return None
    busy = board.in_progress()
    if not busy:
        return None
    lines = [f'  worker {wid} (pid {pid}): {path}'
             for wid, (pid, path) in sorted(busy.items())]
    note = ('Videos being loaded when the data-loading workers failed (a '
            'video named here with the pid of a dead or stuck worker is the '
            'likely cause; remove it from the list and --resume):\n' +
            '\n'.join(lines))
    if hasattr(err, 'add_note'):
        err.add_note(note)
    return note
