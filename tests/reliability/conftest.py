"""Shared fixtures of the reliability tests (tiny videos in a temp folder)."""
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from rel_helpers import make_bad_videos, make_clip  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: long end-to-end test')


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest (and reproducibly) on one thread; on a busy
    2-core machine two OpenMP threads are several times slower."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def clip_dir(tmp_path_factory):
    """A folder with 4 readable 12-frame 64x64 clips."""
    root = tmp_path_factory.mktemp('clips')
    for i in range(4):
        make_clip(str(root / f'good{i}.mp4'), 12, seed=i)
    return str(root)


@pytest.fixture(scope='module')
def mixed_dir(tmp_path_factory):
    """4 good clips plus one broken video of each kind.

    Returns:
        tuple: (folder, dict kind -> path); 'missing' is not on disk.
    """
    root = tmp_path_factory.mktemp('mixed')
    for i in range(4):
        make_clip(str(root / f'good{i}.mp4'), 12, seed=i)
    bad = make_bad_videos(str(root))
    return str(root), bad
