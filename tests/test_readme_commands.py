"""Every ```bash block of README.md and docs/getting_started.md runs as
written, on a small demo set.

The docs cannot drift from the code: each block is parsed from the file
at test time and run by bash in a scratch workspace that looks like a clone
after ``make demo`` (``configs/`` and ``tools/`` linked, a small demo set in
``data/demo`` and ``data/demo_track_train``, a short pretraining in
``work_dirs/demo/pretrain`` exported to ``work_dirs/demo/seco_r18_backbone.pth``,
the path ``tools/run_demo.py`` writes). The project's virtualenv is activated
first, as the README says (``source .venv/bin/activate``).

What the test changes, and only this:
* runs are made short by appending ``--cfg-options`` (mmengine merges a
  second ``--cfg-options`` into the first, and the last value wins) to every
  ``tools/train.py``, ``tools/test.py`` and ``dist_*.sh`` command:
  :data:`TINY`, plus ``train_cfg.max_epochs=1`` when the config file trains
  for more than :data:`SHORT_EPOCHS` epochs (the downstream demo configs,
  3-4 epochs, run in full, so their ``epoch_N.pth`` names hold);
* upper-case placeholders a reader fills in are replaced:
  :data:`PLACEHOLDERS`;
* ``make TARGET`` lines are checked against the Makefile, not run (``make
  test`` runs this test; the workspace already is a small ``make demo``);
* a block holding a line ``# needs: <what>`` (GPUs, several nodes, a real
  data set, ...) is skipped, and the reason is printed. Blocks without the
  marker must run.
"""
import os
import os.path as osp
import re
import shlex
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

DOCS = ('README.md', osp.join('docs', 'getting_started.md'))
NEEDS = re.compile(r'^\s*#\s*needs:\s*(.+)$', re.M)
# appended to each command of the tool (the key: a substring of the command)
_TRAIN = ['--cfg-options', 'train_dataloader.batch_size=4',
          'train_dataloader.num_workers=0']
TINY = {
    'tools/train.py': _TRAIN,
    'tools/dist_train.sh': _TRAIN,
    'tools/test.py': ['--cfg-options', 'test_dataloader.num_workers=0'],
    'tools/dist_test.sh': ['--cfg-options', 'test_dataloader.num_workers=0'],
}
SHORT_EPOCHS = 4
PLACEHOLDERS = {'BACKBONE.pth': 'work_dirs/demo/seco_r18_backbone.pth'}
SMALL_DEMO = ['--num-train', '20', '--num-val', '10', '--frames', '16',
              '--size', '64', '--num-tracking-frames', '12']


def bash_blocks(text):
    """``[(line number, code)]`` of the ```bash fenced blocks."""
    blocks, code, start = [], None, 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if code is None and stripped.startswith('```bash'):
            code, start = [], number
        elif code is not None and stripped.startswith('```'):
            blocks.append((start, '\n'.join(code)))
            code = None
        elif code is not None:
            code.append(line)
    assert code is None, f'line {start}: unclosed ```bash block'
    return blocks


def commands(code):
    """Shell commands of a block: continuations joined, comments dropped."""
    joined = re.sub(r'\s*\\\n\s*', ' ', code)
    out = []
    for line in joined.splitlines():
        line = line.split(' #', 1)[0].strip() if not line.lstrip(
        ).startswith('#') else ''
        if line:
            out.append(line)
    return out


def _config_epochs(command, tool):
    """``train_cfg.max_epochs`` of the config file a training command names."""
    from mmengine.config import Config
    words = shlex.split(command)
    index = next(i for i, w in enumerate(words) if w.endswith(tool))
    cfg = Config.fromfile(osp.join(ROOT, words[index + 1]))
    return (cfg.get('train_cfg') or {}).get('max_epochs') or 0


def shorten(command):
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    for tool, extra in TINY.items():
        if tool in command:
            extra = list(extra)
            if tool in ('tools/train.py', 'tools/dist_train.sh') and (
                    _config_epochs(command, tool) > SHORT_EPOCHS):
                extra.append('train_cfg.max_epochs=1')
            command += ' ' + ' '.join(shlex.quote(w) for w in extra)
    return command


def make_targets():
    text = open(osp.join(ROOT, 'Makefile')).read()
    return set(re.findall(r'^([A-Za-z][\w-]*):', text, re.M))


def test_parser_on_a_sample():
    text = ('x\n```bash\n# needs: gpu\nbash a.sh 4 \\\n    --resume  # c\n'
            '```\n```python\nno\n```\n```bash\nmake demo\n```\n')
    blocks = bash_blocks(text)
    assert [n for n, _ in blocks] == [2, 10]
    assert NEEDS.search(blocks[0][1]).group(1) == 'gpu'
    assert commands(blocks[0][1]) == ['bash a.sh 4 --resume']
    assert shorten('python tools/test.py c.py BACKBONE.pth').endswith(
        'work_dirs/demo/seco_r18_backbone.pth --cfg-options '
        'test_dataloader.num_workers=0')
    # 30-epoch pretraining cut to 1 epoch, 4-epoch downstream demo kept
    assert shorten('python tools/train.py configs/seco_r18_demo.py').endswith(
        'train_cfg.max_epochs=1')
    assert 'max_epochs' not in shorten(
        'python tools/train.py configs/downstream/tsn_r18_linear_demo.py')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _run(workspace, command, timeout=900):
    activate = osp.join(ROOT, '.venv', 'bin', 'activate')
    env = dict(os.environ, OMP_NUM_THREADS='1', OMP_WAIT_POLICY='PASSIVE',
               PORT=str(_free_port()))  # dist_*.sh read PORT
    if osp.isfile(activate):
        script = f'source {shlex.quote(activate)}\n{command}'
    else:  # not installed through make: the interpreter running the tests
        env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
        script = command
    out = subprocess.run(['bash', '-c', script], cwd=workspace, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (
        f'{command}\nexit {out.returncode}\n{out.stdout[-3000:]}\n'
        f'{out.stderr[-3000:]}')
    return out


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A scratch clone after a small ``make demo``."""
    ws = tmp_path_factory.mktemp('readme')
    for name in ('configs', 'tools', '.venv'):  # .venv: as after `make`
        if osp.exists(osp.join(ROOT, name)):
            os.symlink(osp.join(ROOT, name), ws / name)
    _run(ws, 'python tools/make_demo_data.py --out data/demo --seed 0 ' +
         ' '.join(SMALL_DEMO))
    _run(ws, 'python tools/make_demo_data.py --out data/demo_track_train '
         '--seed 1 --num-train 1 --num-val 1 --frames 16 --size 64 '
         '--num-tracking-frames 12')
    _run(ws, shorten('python tools/train.py configs/seco_r18_demo.py '
                     '--work-dir work_dirs/demo/pretrain'))
    _run(ws, 'python tools/export_backbone.py '
         'work_dirs/demo/pretrain/epoch_1.pth '
         'work_dirs/demo/seco_r18_backbone.pth')
    return ws


@pytest.mark.parametrize('doc', DOCS)
def test_every_bash_block_runs(workspace, capsys, doc):
    blocks = bash_blocks(open(osp.join(ROOT, doc)).read())
    targets = make_targets()
    ran, skipped = [], []
    for line, code in blocks:
        need = NEEDS.search(code)
        if need:
            skipped.append(f'{doc}:{line}: needs {need.group(1)}')
            continue
        for command in commands(code):
            if command.startswith('make '):
                target = command.split()[1]
                assert target in targets, (
                    f'{doc}:{line}: no Makefile target {target!r}')
                continue
            _run(workspace, shorten(command))
            ran.append(f'{doc}:{line}: {command}')
    with capsys.disabled():
        print(f'\n{doc} commands run:\n  ' + '\n  '.join(ran) +
              '\nskipped:\n  ' + '\n  '.join(skipped))
    assert ran, f'no command of {doc} ran'
