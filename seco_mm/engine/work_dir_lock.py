"""One training process per work dir: a lock file naming its owner.

``<work_dir>/.seco_train.lock`` is created with ``O_CREAT | O_EXCL`` (atomic
on local filesystems and on NFSv3+), and holds JSON: ``pid``, ``host``,
``started`` (ISO time), ``pid_start`` (the process start time from
``/proc``, so a recycled pid is not mistaken for the owner) and ``argv``.
A second process finds the file and:

- refuses with :class:`WorkDirLockedError` naming the owner, if that
  process is alive (or runs on another host, where it cannot be checked);
- takes the lock over with a warning, if the owner was on this host and is
  gone (a SIGKILL or power loss leaves the file behind).

Kept here rather than ``fcntl.flock``: a ``flock`` vanishes with its process
(no stale files) but cannot tell the next user who holds it, and is not
honoured across hosts on many network filesystems; the file is readable
by people (``cat work_dir/.seco_train.lock``).
"""
import datetime
import json
import os
import os.path as osp
import socket
import sys
import time
from typing import Callable, Optional

__all__ = ['LOCK_NAME', 'WorkDirLock', 'WorkDirLockedError']

LOCK_NAME = '.seco_train.lock'


class WorkDirLockedError(RuntimeError):
    """Another live process trains in this work dir; names it."""


def _proc_start(pid: int) -> Optional[str]:
    """Start time of ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return None
    # field 22; the command name (field 2) may contain spaces: split after ')'
    return stat.rsplit(')', 1)[1].split()[19]


def _alive(pid: int, pid_start: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    if pid_start is not None:
        current = _proc_start(pid)
        if current is not None and current != pid_start:
            return False  # the pid was recycled by an unrelated process
    return True


def _describe(owner: dict) -> str:
    return (f"pid {owner.get('pid')} on host {owner.get('host')}, started "
            f"{owner.get('started')} ({' '.join(owner.get('argv') or [])})")


class WorkDirLock:
    """Exclusive lock on a work dir for the lifetime of a training process.

    Args:
        work_dir (str): the folder (created if missing).
        warn (callable): receives the message when a stale lock is taken
            over (default: print to stderr).
    """

    def __init__(self, work_dir: str, warn: Callable[[str], None] = None):
        self.path = osp.join(osp.abspath(work_dir), LOCK_NAME)
        self.warn = warn or (lambda msg: print(msg, file=sys.stderr))
        self.held = False

    def _record(self) -> dict:
        pid = os.getpid()
        return dict(pid=pid, host=socket.gethostname(),
                    started=datetime.datetime.now().astimezone().isoformat(
                        timespec='seconds'),
                    pid_start=_proc_start(pid), argv=list(sys.argv))

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w') as f:
            json.dump(self._record(), f)
            f.flush()
            os.fsync(f.fileno())
        return True

    def owner(self) -> Optional[dict]:
        """The lock file's content; None if absent; ``{}`` if unreadable
        (a process killed between create and write)."""
        try:
            with open(self.path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        """Take the lock or raise :class:`WorkDirLockedError`."""
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        for _ in range(3):  # lost races with another taker: look again
            if self._create():
                self.held = True
                return
            owner = self.owner()
            if owner is None:
                continue  # released meanwhile
            if owner.get('pid') == os.getpid() and owner.get(
                    'host') == socket.gethostname():
                self.held = True  # this process already holds it
                return
            if not self._stale(owner):
                raise WorkDirLockedError(
                    f'{osp.dirname(self.path)} is in use by another '
                    f'training run: {_describe(owner)}. Two runs in one work '
                    'dir overwrite each other\'s checkpoints; use another '
                    '--work-dir, or wait for that run to end. If it is gone '
                    f'(e.g. another host that crashed), delete {self.path}.')
            self.warn(f'taking over the lock {self.path} of a run that is no '
                      f'longer alive ({_describe(owner)}); it probably was '
                      'killed')
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
        raise WorkDirLockedError(f'could not take the lock {self.path}: '
                                 'other processes keep creating it')

    def _stale(self, owner: dict) -> bool:
        if not owner:  # empty or garbled: being written, or writer died
            try:
                return time.time() - os.path.getmtime(self.path) > 10
            except OSError:
                return True
        if owner.get('host') != socket.gethostname():
            return False  # cannot check a process on another host
        pid = owner.get('pid')
        if not isinstance(pid, int) or pid <= 0:
            return True
        return not _alive(pid, owner.get('pid_start'))

    def release(self) -> None:
        """Remove the lock file if this process holds it."""
        if not self.held:
            return
        self.held = False
        owner = self.owner()
        if owner and owner.get('pid') == os.getpid():
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
