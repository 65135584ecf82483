"""A training run with persistent loading workers ends by itself.

SeCoPreemptionHook makes the workers ignore SIGTERM (so a signal sent to
the whole process group does not kill them before the checkpoint); Python's
multiprocessing exit handler then waits forever for them unless the hook
reaps them at exit. Seen as ``make demo`` never leaving its pretraining.
"""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.e2e.runner_utils import tiny_runner_cfg


@pytest.mark.slow
def test_train_tool_exits_with_persistent_workers(tiny_video_dir, tmp_path):
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path / 'run', max_epochs=1,
                          batch_size=2)
    cfg.train_dataloader.update(num_workers=2, persistent_workers=True)
    cfg_path = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_path))
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    try:
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, 'tools', 'train.py'),
             str(cfg_path)], capture_output=True, text=True, timeout=240,
            env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail('tools/train.py did not exit after training (workers '
                    'that ignore SIGTERM hang the interpreter exit)')
    assert out.returncode == 0, out.stderr[-3000:]
    # the workers end quietly, not as killed or crashed processes
    assert 'Traceback' not in out.stderr, out.stderr[-3000:]
    assert 'killed by signal' not in out.stderr
    assert (tmp_path / 'run' / 'epoch_1.pth').is_file()
