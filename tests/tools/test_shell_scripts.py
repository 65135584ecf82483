"""tools/*.sh: mmaction2's launcher interface, and they find the project's
virtualenv without activating it."""
import os
import os.path as osp
import shutil
import stat
import subprocess

import pytest

from tests.conftest import ROOT

SCRIPTS = ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh',
           'slurm_test.sh')


def _fake_repo(tmp_path, with_venv):
    """A copy of tools/*.sh whose python / srun print their arguments."""
    repo = tmp_path / 'repo'
    (repo / 'tools').mkdir(parents=True)
    for name in (*SCRIPTS, 'launch_common.sh', 'find_python.sh'):
        shutil.copy(osp.join(ROOT, 'tools', name), repo / 'tools' / name)
    echo = '#!/bin/sh\necho "$0" "$@"\n'
    fakes = [tmp_path / 'bin' / 'srun']
    if with_venv:
        fakes.append(repo / '.venv' / 'bin' / 'python')
    for fake in fakes:
        fake.parent.mkdir(parents=True, exist_ok=True)
        fake.write_text(echo)
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return repo


def _run(repo, tmp_path, script, *args, **env):
    full_env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    full_env.update(PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", **env)
    out = subprocess.run(['bash', str(repo / 'tools' / script), *args],
                         capture_output=True, text=True, env=full_env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize('script,args,expected', [
    ('dist_train.sh', ('cfg.py', '2', '--resume'),
     ['-m', 'torch.distributed.run', '--nproc_per_node=2', 'cfg.py',
      '--launcher', 'pytorch', '--resume']),
    ('dist_test.sh', ('cfg.py', 'ck.pth', '3', '--dump', 'r.pkl'),
     ['-m', 'torch.distributed.run', '--nproc_per_node=3', 'cfg.py', 'ck.pth',
      '--launcher', 'pytorch', '--dump', 'r.pkl']),
])
def test_dist_scripts_use_the_project_venv(tmp_path, script, args, expected):
    repo = _fake_repo(tmp_path, with_venv=True)
    words = _run(repo, tmp_path, script, *args)
    assert words[0] == str(repo / '.venv' / 'bin' / 'python')
    tool = 'train.py' if 'train' in script else 'test.py'
    assert str(repo / 'tools' / tool) in words
    rest = [w for w in words[1:] if not w.startswith(('--nnodes', '--node_',
                                                      '--master', str(repo)))]
    assert rest == expected


def test_python_variable_wins_and_path_python_is_the_fallback(tmp_path):
    repo = _fake_repo(tmp_path, with_venv=True)
    other = tmp_path / 'bin' / 'mypython'
    other.write_text('#!/bin/sh\necho "$0" "$@"\n')
    other.chmod(0o755)
    words = _run(repo, tmp_path, 'dist_train.sh', 'c.py', '1',
                 PYTHON=str(other))
    assert words[0] == str(other)
    bare = _fake_repo(tmp_path / 'novenv', with_venv=False)
    (tmp_path / 'novenv' / 'bin' / 'python').write_text(
        '#!/bin/sh\necho PATH-python "$@"\n')
    (tmp_path / 'novenv' / 'bin' / 'python').chmod(0o755)
    words = _run(bare, tmp_path / 'novenv', 'dist_train.sh', 'c.py', '1')
    assert words[0] == 'PATH-python'


@pytest.mark.parametrize('script,args,tail', [
    ('slurm_train.sh', ('part', 'job', 'cfg.py', '--resume'),
     ['cfg.py', '--launcher=slurm', '--resume']),
    ('slurm_test.sh', ('part', 'job', 'cfg.py', 'ck.pth', '--dump', 'r.pkl'),
     ['cfg.py', 'ck.pth', '--launcher=slurm', '--dump', 'r.pkl']),
])
def test_slurm_scripts_call_srun_like_mmaction2(tmp_path, script, args, tail):
    repo = _fake_repo(tmp_path, with_venv=True)
    words = _run(repo, tmp_path, script, *args, GPUS='16',
                 GPUS_PER_NODE='8', CPUS_PER_TASK='4',
                 SRUN_ARGS='--quotatype=auto')
    assert words[0].endswith('/srun')
    assert words[1:11] == [
        '-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=4', '--kill-on-bad-exit=1',
        '--quotatype=auto', str(repo / '.venv' / 'bin' / 'python')]
    tool = 'train.py' if 'train' in script else 'test.py'
    assert words[11:13] == ['-u', str(repo / 'tools' / tool)]
    assert words[13:] == tail
