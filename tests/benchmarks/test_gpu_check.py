"""benchmarks/gpu_check.sh: the CPU path runs and prints every section.

No timing assertions: the check is that each section is measured (numbers
in its table), so a person with a GPU gets a complete report.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

import gpu_check  # benchmarks/ is on pytest's pythonpath (pytest.ini)


def _tables(text):
    """section name -> list of table rows (lists of cells)."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r'^## (.+)$', line)
        if m:
            name = m.group(1).strip()
            out[name] = []
        elif name and line.startswith('|') and not line.startswith('|---'):
            out[name].append([c.strip() for c in line.strip('|').split('|')])
    return {k: v[1:] for k, v in out.items()}  # drop the header rows


def _number(cell):
    return float(cell)


def test_missing_data_folder_names_the_file(tmp_path):
    with pytest.raises(SystemExit, match=r'--data .*no train\.txt'):
        gpu_check.ensure_demo_data(str(tmp_path))


@pytest.mark.slow
def test_cpu_smoke_prints_every_section(tmp_path):
    env = dict(os.environ, GPU_CHECK_OUT=str(tmp_path / 'out'),
               PYTHON=sys.executable, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', os.path.join(ROOT, 'benchmarks', 'gpu_check.sh'),
         '--cpu-smoke', '--steps', '1'],
        capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert 'CPU smoke run' in text
    tables = _tables(text)
    assert list(tables) == list(gpu_check.SECTIONS)
    env_rows = dict((r[0], r[1]) for r in tables['environment'])
    assert env_rows['torch'] and env_rows['CPU cores'].isdigit()
    thr = tables['training throughput']
    assert [(r[0], r[1]) for r in thr] == [
        (str(b), p) for b in (2, 4) for p in gpu_check.PRECISIONS]
    assert all(_number(r[2]) > 0 and _number(r[4]) > 0 for r in thr)
    assert [r[0] for r in tables['key forward']] == ['batched', 'per_view']
    assert all(_number(r[2]) > 0 for r in tables['key forward'])
    loader = tables['data loader'][0]
    assert loader[0] == '2' and loader[2] == '4x3x64x64'
    assert _number(loader[4]) > 0
    ddp = tables['ddp step'][0]
    assert ddp[:2] == ['gloo', '1'] and ddp[4] == 'yes'
    # the same figures in the JSON next to the text
    out = tmp_path / 'out'
    (js,) = [p for p in out.iterdir() if p.suffix == '.json']
    (txt,) = [p for p in out.iterdir() if p.suffix == '.txt']
    assert txt.read_text() == text
    res = json.loads(js.read_text())
    assert set(res['sections']) == set(gpu_check.SECTIONS)
    assert res['sections']['data loader']['clips'] == 18  # generated set


def test_bench_amp_measures_every_variant(tmp_path):
    """benchmarks/bench_amp.py (the CPU side of the same switches) at smoke
    size: every variant timed, ratios against fp32, JSON written."""
    import bench_amp
    out = tmp_path / 'amp.json'
    res = bench_amp.main(['--batch', '2', '--crop', '32', '--rounds', '1',
                          '--noise', '--threads', '1', '--json-out',
                          str(out)])
    assert list(res['variants']) == list(bench_amp.VARIANTS)
    assert res['reference'] == 'fp32' and res['batch'] == 2
    assert res['variants']['fp32']['speedup_wall']['median'] == 1.0
    assert all(v['wall']['median'] > 0 for v in res['variants'].values())
    assert 'bf16 + channels_last vs fp32' in res['markdown']
    assert json.loads(out.read_text())['variants'].keys() == \
        res['variants'].keys()
