"""The one way seco-mm reads a checkpoint: weights-only, local or remote.

Every checkpoint read in the project, and every read mmengine / mmaction2
make on its behalf (``load_from``, ``--resume``, ``tools/test.py CONFIG
CKPT``, ``init_cfg=dict(type='Pretrained', checkpoint=...)``, ResNet's
``pretrained=``, ResNet3d inflation), ends in :func:`load_weights_only`:

- ``torch.load(..., weights_only=True)``, passed explicitly. torch 2.13 lets
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` switch weights-only loading off only
  when the caller did *not* pass ``weights_only`` (torch/serialization.py,
  ``load``), so the explicit argument keeps these reads safe under that
  variable (tested in tests/security). The types mmengine writes into its
  checkpoints are allow-listed once, in :mod:`seco_mm.compat` (defect 3);
  anything else (a pickled callable) is refused with a
  :class:`UnsafeCheckpointError` naming the file and the refused global.
- Remote files are downloaded first (``http(s)://`` with torch.hub's
  downloader into a per-URL cache folder; ``s3://`` / ``petrel://`` through
  mmengine's file backends; ``torchvision://`` / ``open-mmlab://`` resolved to
  their URL or file), then read the same way. ``pavi://`` and ``mmcls://``
  are refused with a message: download the file and pass its path.

Why our own loaders: mmengine 0.10.7's ``http(s)`` loader calls
``torch.hub.load_state_dict_from_url``, whose ``weights_only`` defaults to
False, i.e. a full unpickle of a file from the network. :func:`register`
installs these loaders in mmengine's public
``CheckpointLoader.register_scheme(..., force=True)`` for every scheme
mmengine ships; it runs when ``seco_mm`` is imported.
"""
import hashlib
import io
import os
import os.path as osp
import pickle
import re
from typing import Any, Callable, Optional
from urllib.parse import urlparse

import torch

from .checkpoint_io import CheckpointError, check_checkpoint_file

__all__ = [
    'UnsafeCheckpointError', 'load_weights_only', 'load_checkpoint_file',
    'check_checkpoint_source', 'download_checkpoint', 'register',
    'REMOTE_PREFIXES', 'REFUSED_PREFIXES'
]

# the schemes mmengine 0.10.7 registers (checkpoint.py), mapped to ours
HTTP_PREFIXES = ('http://', 'https://')
CEPH_PREFIXES = (r'(\S+\:)?s3://', r'(\S+\:)?petrel://')
ZOO_PREFIXES = ('modelzoo://', 'torchvision://')
OPENMMLAB_PREFIXES = ('open-mmlab://', 'openmmlab://')
REFUSED_PREFIXES = ('pavi://', 'mmcls://')
REMOTE_PREFIXES = (HTTP_PREFIXES + CEPH_PREFIXES + ZOO_PREFIXES +
                   OPENMMLAB_PREFIXES)
_URL = re.compile(r'^[A-Za-z][A-Za-z0-9+.\-]*:(\S*:)?//')


class UnsafeCheckpointError(CheckpointError):
    """The file holds pickled objects outside the allow-list; not loaded."""


def _first_line(err: BaseException, limit: int = 300) -> str:
    return (str(err).strip().splitlines() or [''])[0][:limit]


def _last_line(err: BaseException, limit: int = 300) -> str:
    """torch's weights-only errors put the unpickler's reason last."""
    lines = [ln for ln in str(err).strip().splitlines()
             if ln.strip() and not ln.startswith('Check the documentation')]
    return (lines or [''])[-1].strip()[:limit]


def load_weights_only(source, name: Optional[str] = None,
                      map_location: Any = 'cpu') -> Any:
    """``torch.load(source, weights_only=True)`` with errors naming the file.

    Args:
        source: a local path or a binary file object.
        name: how to name the file in errors (defaults to ``source``).
        map_location: as for ``torch.load``.

    Raises:
        UnsafeCheckpointError: the pickle asks for a global (callable, class)
            outside torch's weights-only set and the project's allow-list.
        CheckpointError: not a torch file, truncated or corrupt.
    """
    name = str(source) if name is None else name
    try:
        return torch.load(source, map_location=map_location,
                          weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r'GLOBAL (\S+)', str(err))
        if found is None:  # not a refused global: a damaged or foreign file
            raise CheckpointError(
                name, 'cannot be read by torch.load (not a torch file, or a '
                f'truncated/corrupt one): {_last_line(err)}') from None
        raise UnsafeCheckpointError(
            name, f'refused: it asks to load the global {found.group(1)}, '
            'which is not a tensor, a plain container or a type on '
            "seco_mm.compat's allow-list. Loading it would run code chosen "
            'by the file; seco-mm never does that (docs/checkpoints.md)'
        ) from None
    except Exception as err:  # zip/EOF/magic errors differ by torch version
        raise CheckpointError(
            name, 'cannot be read by torch.load (not a torch file, or a '
            f'truncated/corrupt one): {type(err).__name__}: '
            f'{_first_line(err)}') from err


def is_remote(filename: str) -> bool:
    """True if ``filename`` looks like ``scheme://...`` (not a local path)."""
    return bool(_URL.match(str(filename)))


def _cache_dir() -> str:
    return osp.join(torch.hub.get_dir(), 'checkpoints', 'seco_mm')


def download_checkpoint(url: str, cache_dir: Optional[str] = None) -> str:
    """Download an ``http(s)`` checkpoint once; return the local path.

    The file goes to ``<cache_dir>/<sha256(url)[:12]>/<basename>`` (default
    cache: ``$TORCH_HOME/hub/checkpoints/seco_mm``), so two URLs with the same
    file name never share a cache entry; torch.hub's downloader writes a
    ``.partial`` file and renames it when complete. Under DDP, rank 0
    downloads while the other ranks wait at a barrier.
    """
    from mmengine.dist import barrier, get_dist_info

    name = osp.basename(urlparse(url).path) or 'checkpoint.pth'
    folder = osp.join(cache_dir or _cache_dir(),
                      hashlib.sha256(url.encode()).hexdigest()[:12])
    path = osp.join(folder, name)
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(path):
        os.makedirs(folder, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, path, progress=False)
        except Exception as err:
            raise CheckpointError(url, f'download failed: '
                                  f'{type(err).__name__}: {_first_line(err)}'
                                  ) from err
    if world_size > 1:
        barrier()
    return path


def _resolve(filename: str) -> str:
    """Map ``torchvision://`` and ``open-mmlab://`` names to a URL or file."""
    from mmengine.runner import checkpoint as mm_ckpt

    if filename.startswith(ZOO_PREFIXES):
        model = filename.split('://', 1)[1]
        try:
            urls = mm_ckpt.get_torchvision_models()
        except ImportError as err:
            raise CheckpointError(filename, f'needs torchvision to resolve '
                                  f'the name ({err})') from None
    else:
        model = filename.split('://', 1)[1]
        model = mm_ckpt.get_deprecated_model_names().get(model, model)
        urls = mm_ckpt.get_external_models()
    if model not in urls:
        raise CheckpointError(filename, f'unknown model name {model!r}')
    url = urls[model]
    if url.startswith(HTTP_PREFIXES):
        return url
    return osp.join(mm_ckpt._get_mmengine_home(), url)


def check_checkpoint_source(filename: str) -> None:
    """Fail early on a checkpoint that cannot be read safely.

    Local files are checked for completeness (:func:`check_checkpoint_file`);
    a remote one must use a scheme :func:`load_checkpoint_file` supports
    (it is downloaded and checked when it is loaded).
    """
    filename = str(filename)
    if not is_remote(filename):
        check_checkpoint_file(osp.expanduser(filename))
    elif filename.startswith(REFUSED_PREFIXES):
        _refuse(filename)
    elif not any(re.match(p, filename) for p in REMOTE_PREFIXES):
        raise CheckpointError(filename, _unknown_scheme())


def _unknown_scheme() -> str:
    return ('unsupported URL scheme; seco-mm loads local files, http(s)://, '
            's3:// / petrel://, torchvision:// and open-mmlab:// '
            '(docs/checkpoints.md)')


def _refuse(filename: str):
    raise CheckpointError(
        filename, 'refused: this scheme is loaded by mmengine without '
        "weights-only unpickling and seco-mm does not support it; download "
        'the file and pass its local path')


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> Any:
    """Read any checkpoint (path or URL) with :func:`load_weights_only`."""
    filename = str(filename)
    if filename.startswith(REFUSED_PREFIXES):
        _refuse(filename)
    if filename.startswith(ZOO_PREFIXES + OPENMMLAB_PREFIXES):
        return load_checkpoint_file(_resolve(filename), map_location)
    if filename.startswith(HTTP_PREFIXES):
        path = download_checkpoint(filename)
        check_checkpoint_file(path)
        return load_weights_only(path, f'{filename} (cached as {path})',
                                 map_location)
    if any(re.match(p, filename) for p in CEPH_PREFIXES):
        from mmengine.fileio import get_file_backend
        backend = get_file_backend(filename,
                                   backend_args=dict(backend='petrel'))
        return load_weights_only(io.BytesIO(backend.get(filename)), filename,
                                 map_location)
    if is_remote(filename):
        raise CheckpointError(filename, _unknown_scheme())
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {filename}: file not found')
    return load_weights_only(path, filename, map_location)


def _loader(name: str) -> Callable:
    """mmengine prints ``Loads checkpoint by <name[10:]> backend``."""

    def load(filename, map_location=None):
        return load_checkpoint_file(filename, map_location)

    load.__name__ = load.__qualname__ = f'load_from_{name}'
    return load


def register() -> None:
    """Install the safe loaders for every scheme mmengine 0.10.7 ships.

    Uses the public ``CheckpointLoader.register_scheme(force=True)``; the
    empty prefix is mmengine's local-file fallback, which also receives any
    unknown ``scheme://`` (refused by :func:`load_checkpoint_file`).
    """
    from mmengine.runner import CheckpointLoader

    for prefixes, name in (('', 'seco_safe_local'),
                           (HTTP_PREFIXES, 'seco_safe_http'),
                           (CEPH_PREFIXES, 'seco_safe_ceph'),
                           (ZOO_PREFIXES, 'seco_safe_zoo'),
                           (OPENMMLAB_PREFIXES, 'seco_safe_openmmlab'),
                           (REFUSED_PREFIXES, 'seco_refused')):
        CheckpointLoader.register_scheme(list(prefixes) if not isinstance(
            prefixes, str) else prefixes, _loader(name), force=True)
