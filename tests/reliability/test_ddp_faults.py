"""Two processes (torchrun, gloo on CPU): faults on one rank stop both."""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
from rel_helpers import REPO, make_bad_videos, make_clip, write_tiny_config

HERE = osp.dirname(osp.abspath(__file__))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_nan_on_one_rank_stops_every_rank(tmp_path):
    videos = tmp_path / 'videos'
    for i in range(8):
        make_clip(str(videos / f'good{i}.mp4'), 12, seed=i)
    make_bad_videos(str(videos))
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), str(videos),
                            max_epochs=2, extra='''
custom_imports = dict(imports=['seco_mm', 'rel_helpers'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='SeCoMomentumHook', momentum=0.99, cosine=True),
                dict(type='RelNaNLossHook', at_iter=3, rank=1)]
''')
    # PYTHON: the interpreter running the tests (make does not activate the
    # venv, so the `python` on PATH may lack torch)
    env = dict(os.environ, PYTHONPATH=HERE, OMP_NUM_THREADS='1',
               PORT=str(_free_port()), PYTHON=sys.executable)
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), cfg, '2',
         '--work-dir', str(tmp_path / 'work')], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = proc.stdout.decode(errors='replace')
    assert proc.returncode != 0, out[-3000:]
    # rank 1 names its term; rank 0 learns of it through the all-reduce;
    # both stop at the same iteration (no rank is left waiting)
    assert re.search(r'non-finite loss at iteration 3 \(epoch 1, batch 3\): '
                     r'loss_inter=nan; the optimizer step was not taken',
                     out), out[-3000:]
    assert re.search(r'non-finite loss at iteration 3 \(epoch 1, batch 3\): '
                     r'\(another rank\)=non-finite', out), out[-3000:]
    # bad samples are counted and logged under DDP too (the all-reduced
    # sum over ranks; its exact value depends on the sampler's split)
    counts = [int(x) for x in re.findall(r'bad_samples: (\d+)', out)]
    assert counts and counts == sorted(counts)
