"""Crash-safe checkpoint files: atomic writes and a completeness check.

A checkpoint is written to ``<name>.tmp`` in the same folder, flushed to
disk, then renamed onto ``<name>`` (``os.replace`` is atomic on POSIX and
Windows), so a process killed at any moment leaves either the previous file
or the complete new one, never a truncated ``<name>``.
"""
import os
import os.path as osp
import zipfile

__all__ = ['CheckpointError', 'TMP_SUFFIX', 'atomic_replace',
           'atomic_write_text', 'check_checkpoint_file']

TMP_SUFFIX = '.tmp'


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or corrupt; names the file."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f'checkpoint {path}: {reason}')


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def atomic_replace(tmp_path: str, path: str) -> None:
    """Flush ``tmp_path`` to disk and rename it onto ``path`` atomically."""
    _fsync_path(tmp_path)
    os.replace(tmp_path, path)
    if os.name == 'posix':
        _fsync_path(osp.dirname(osp.abspath(path)))


def atomic_write_text(path: str, text: str) -> None:
    """Write a small text file so readers see the old or the new content."""
    tmp = path + TMP_SUFFIX
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
    atomic_replace(tmp, path)


def check_checkpoint_file(path: str, verify_crc: bool = True) -> None:
    """Raise :class:`CheckpointError` unless ``path`` is a complete file.

    ``torch.save`` writes a zip archive whose central directory sits at the
    end, so a truncated file has none; with ``verify_crc`` every member's
    CRC is checked too (reads the whole file once), catching corruption in
    the middle. Files in torch's legacy (non-zip) format are only checked
    for existence and size.
    """
    if not osp.exists(path):
        raise CheckpointError(path, 'file not found')
    if not osp.isfile(path):
        raise CheckpointError(path, 'not a regular file')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointError(path, 'empty file (0 bytes): the save was '
                              'interrupted; resume from an earlier checkpoint')
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic != b'PK\x03\x04':
        return  # legacy torch format (pickle stream): nothing to verify
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if not any(n.endswith('data.pkl') for n in names):
                raise CheckpointError(path, 'zip archive without data.pkl: '
                                      'not a torch checkpoint')
            if verify_crc:
                broken = zf.testzip()
                if broken is not None:
                    raise CheckpointError(
                        path, f'corrupt (CRC mismatch in {broken!r})')
    except zipfile.BadZipFile as err:
        raise CheckpointError(
            path, f'truncated or corrupt ({size} bytes; {err}): it was '
            'probably cut short while being written; resume from an earlier '
            'checkpoint') from None
