"""tools/linear_probe.py prints what a user can act on, not library noise."""
import os.path as osp
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _probe(tiny_video_dir, work_dir, *extra):
    lst = str(tiny_video_dir / 'train.txt')
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'linear_probe.py'),
           '--random-init', '--depth', '18', '--train-list', lst,
           '--val-list', lst, '--data-prefix', str(tiny_video_dir),
           '--work-dir', str(work_dir), '--num-frames', '2',
           '--crop-size', '32', *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


@pytest.mark.slow  # two tools/linear_probe.py processes
def test_probe_console_has_no_init_report_or_deprecation_notices(
        tiny_video_dir, tmp_path):
    out = _probe(tiny_video_dir, tmp_path / 'a')
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    # mmengine's per-parameter init report: one block per parameter
    assert 'KaimingInit' not in text and 'conv1.conv.weight' not in text
    assert '"FileClient" will be deprecated' not in text
    assert 'task/s' in text  # progress bars stay by default
    assert 'top-1' in text or 'top1' in text
    quiet = _probe(tiny_video_dir, tmp_path / 'b', '--no-progress')
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert 'task/s' not in quiet.stdout + quiet.stderr
    assert len((quiet.stdout + quiet.stderr).splitlines()) < 120
