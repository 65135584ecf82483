"""Shared fixtures of the reliability tests (tiny videos in a temp folder).

pytest puts this folder on ``sys.path`` (rootdir-relative "prepend" import
mode, no ``__init__.py`` here), so tests import ``rel_helpers`` directly;
the thread-pinning fixture is the root ``tests/conftest.py``'s.
"""
import pytest
from rel_helpers import make_bad_videos, make_clip


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
