"""Smoke test of benchmarks/bench_probe_svm.py at tiny sizes (no timing
assertions): it fits, extrapolates, streams a K400-shaped cache, writes JSON."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow  # several interpreters start: ~45 s on a busy 2-core box
def test_bench_probe_svm_runs_small(tmp_path):
    out = tmp_path / 'bench.json'
    cmd = [sys.executable, osp.join(ROOT, 'benchmarks', 'bench_probe_svm.py'),
           '--sizes', '300', '600', '900', '--dim', '64', '--classes', '20',
           '--binary', '1', '--memory-videos', '20', '40', '--no-decode',
           '--json-out', str(out)]
    env = {'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1',
           'PATH': '/usr/bin:/bin'}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'K400 (240k x 2048, 400 classes' in run.stdout
    result = json.load(open(out))
    assert [r['n'] for r in result['svm']] == [300, 600, 900]
    assert all(r['per_class_s'] > 0 and r['peak_rss_mib'] > 0
               for r in result['svm'])
    est = result['k400_estimate']
    assert est['k400_svm_hours_one_core']['linear'] > 0
    mem = result['memory']
    assert [m['videos'] for m in mem] == [20, 40]
    # 30 x 2048 float16 per video (+ the .npy header)
    assert abs(mem[1]['disk_mib'] - 40 * 30 * 2048 * 2 / 2 ** 20) < 0.01
