"""Shared fixtures: tiny real mp4 videos and tiny SeCo model/pipeline configs."""
import importlib.util
import os
import os.path as osp

import cv2
import numpy as np
import pytest

import seco_mm  # noqa: F401  (registers components, applies compat)
from tools.demo_data.writers import write_mp4

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pytest_sessionstart(session):
    """Print the free space where the tests write, also under ``-q``: the
    suite peaks at about 2 GB of temporary files (see pytest.ini), and a full
    disk shows up as unrelated failures of whatever writes next."""
    import shutil
    import tempfile
    tmp = tempfile.gettempdir()
    free_gb = shutil.disk_usage(tmp).free / 2**30
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    if reporter is not None:
        reporter.write_line(f'temporary files: {tmp}, {free_gb:.1f} GB free '
                            '(the suite needs about 2 GB)')


def load_tool(name):
    """Import ``tools/<name>.py`` as a module (tools are scripts, not a
    package), so tests can call its functions and ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(
        f'seco_tool_{name}', osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs torch on one intra-op thread (restored after).

    Tiny models are fastest on one thread (on a busy 2-core machine two
    OpenMP threads are several times slower), and results do not depend on
    the machine's core count. Tests that compare thread counts start
    subprocesses with their own ``OMP_NUM_THREADS``.
    """
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def restore_mmengine_log_levels():
    """Tools and benchmarks called in-process raise mmengine's logger
    levels (quiet consoles, ``--no-progress``): put them back after each
    test so tests that read log records see them."""
    from mmengine.logging import MMLogger
    loggers = {id(lg): lg for lg in (MMLogger.get_current_instance(),
                                      MMLogger.get_instance('mmengine'))}
    levels = {k: (lg.level, [(h, h.level) for h in lg.handlers])
              for k, lg in loggers.items()}
    yield
    for k, lg in loggers.items():
        level, handlers = levels[k]
        lg.setLevel(level)
        for h, lvl in handlers:
            h.setLevel(lvl)


def _mmengine_instance_classes():
    """MMLogger, MessageHub, Visualizer and their subclasses (each subclass
    keeps its own instances)."""
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.visualization import Visualizer
    found, todo = [], [MMLogger, MessageHub, Visualizer]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.fixture(autouse=True)
def drop_mmengine_instances_made_by_the_test():
    """mmengine keeps one logger, message hub and visualizer per experiment
    name, process-wide, and a Runner's default name is its config's name and
    a timestamp in seconds: two tests building a Runner from ``cfg.py`` in the
    same second share them, and the second test writes its config and logs
    into the first test's (removed) work_dir. Drop what each test created,
    closing its log files."""
    import logging
    before = {cls: set(cls._instance_dict)
              for cls in _mmengine_instance_classes()}
    yield
    for cls in _mmengine_instance_classes():
        for name in set(cls._instance_dict) - before.get(cls, set()):
            instance = cls._instance_dict.pop(name)
            for handler in list(getattr(instance, 'handlers', [])):
                if isinstance(handler, logging.FileHandler):
                    handler.close()
                    instance.removeHandler(handler)


def write_video(path, frames, fps=25):
    """Write (T, H, W, 3) uint8 RGB frames to an mp4v file (the demo data's
    writer, so tests and demo clips are encoded the same way)."""
    write_mp4(path, np.asarray(frames), fps=fps)


def moving_square_frames(seed, num_frames=24, size=64):
    """A textured square moving over a textured background (distinct per seed)."""
    rng = np.random.RandomState(seed)
    bg = (rng.rand(size, size, 3) * 255).astype(np.uint8)
    tex = np.zeros((size // 3, size // 3, 3), np.uint8)
    tex[...] = rng.randint(0, 255, 3)
    tex[::2] //= 2
    frames = []
    for t in range(num_frames):
        img = bg.copy()
        x = int((size - tex.shape[1]) * t / max(num_frames - 1, 1))
        y = (seed * 7) % (size - tex.shape[0])
        img[y:y + tex.shape[0], x:x + tex.shape[1]] = tex
        frames.append(img)
    return np.stack(frames)


@pytest.fixture(scope='session')
def tiny_video_dir(tmp_path_factory):
    """8 mp4 videos of 24 frames, 64x64, in two class folders + lists.

    (Not 48 px wide: decord 0.6.0 decodes width-48 mp4v frames with 4
    channels and get_batch fails; see README "Known upstream issues".)
    """
    root = tmp_path_factory.mktemp('videos')
    lines = []
    for i in range(8):
        rel = f'class{i % 2}/vid{i}.mp4'
        write_video(str(root / rel), moving_square_frames(i))
        lines.append(f'{rel} {i % 2}')
    (root / 'train.txt').write_text('\n'.join(lines) + '\n')
    return root


def tiny_view_pipeline(size=32):
    return [
        dict(type='RandomResizedCrop', area_range=(0.2, 1.0)),
        dict(type='Resize', scale=(size, size), keep_ratio=False),
        dict(type='RandomColorJitter', prob=0.8),
        dict(type='RandomGrayscale', prob=0.2),
        dict(type='RandomGaussianBlur', prob=0.5),
        dict(type='Flip', flip_ratio=0.5),
    ]


def tiny_train_pipeline(size=32):
    return [
        dict(type='SeCoSampleFrames'),
        dict(type='SeCoMultiView', view_pipeline=tiny_view_pipeline(size)),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs', algorithm_keys=('seco_order', )),
    ]


def tiny_seco_model_cfg(queue_len=64, **kwargs):
    cfg = dict(
        type='SeCo',
        backbone=dict(type='ResNet', depth=18, pretrained=None),
        neck=dict(type='SeCoProjector', in_channels=512, hid_channels=64,
                  out_channels=16),
        inter_head=dict(type='InterFrameHead', temperature=0.1),
        intra_head=dict(type='IntraFrameHead', temperature=0.1),
        order_head=dict(type='OrderHead', in_channels=16),
        queue_len=queue_len,
        feat_dim=16,
        data_preprocessor=dict(
            type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], format_shape='NCHW'))
    cfg.update(kwargs)
    return cfg
