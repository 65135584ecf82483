"""Two runs in one work dir: the second is refused, naming the first."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import time

import pytest
from rel_helpers import start_train, write_tiny_config

from seco_mm.engine import work_dir_lock
from seco_mm.engine.work_dir_lock import (LOCK_NAME, WorkDirLock,
                                          WorkDirLockedError)

# work_dir_lock.py needs only the standard library: loaded by path, the
# holder starts in a fraction of a second (importing seco_mm takes ~10 s)
HOLD = '''
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location('wdl', sys.argv[3])
wdl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wdl)
lock = wdl.WorkDirLock(sys.argv[1])
lock.acquire()
print('HELD', flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
'''


def _holder(work, seconds=60):
    """Another process that takes the lock and keeps it."""
    proc = subprocess.Popen(
        [sys.executable, '-c', HOLD, str(work), str(seconds),
         work_dir_lock.__file__], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b'HELD'
    return proc


def test_second_process_is_refused_naming_the_first(tmp_path):
    holder = _holder(tmp_path)
    try:
        owner = json.loads((tmp_path / LOCK_NAME).read_text())
        assert owner['pid'] == holder.pid
        assert owner['host'] == socket.gethostname()
        with pytest.raises(WorkDirLockedError) as info:
            WorkDirLock(str(tmp_path)).acquire()
        msg = str(info.value)
        assert f'is in use by another training run: pid {holder.pid} on ' \
            f'host {socket.gethostname()}, started {owner["started"]}' in msg
        assert 'use another --work-dir' in msg
        assert (tmp_path / LOCK_NAME).exists()  # the owner keeps it
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    holder = _holder(tmp_path)
    holder.kill()  # SIGKILL: no release
    holder.wait()
    assert (tmp_path / LOCK_NAME).exists()
    warnings = []
    lock = WorkDirLock(str(tmp_path), warn=warnings.append)
    lock.acquire()
    assert len(warnings) == 1
    assert f'no longer alive (pid {holder.pid} on host' in warnings[0]
    assert json.loads((tmp_path / LOCK_NAME).read_text())['pid'] == \
        os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_recycled_pid_and_other_hosts(tmp_path):
    path = tmp_path / LOCK_NAME
    # a live pid whose start time differs: the pid was reused -> stale
    path.write_text(json.dumps(dict(
        pid=os.getppid(), host=socket.gethostname(), started='x',
        pid_start='1', argv=[])))
    warnings = []
    lock = WorkDirLock(str(tmp_path), warn=warnings.append)
    lock.acquire()
    assert warnings and lock.held
    lock.release()
    # a process on another host cannot be checked: refuse
    path.write_text(json.dumps(dict(pid=1, host='other-node', started='x',
                                    argv=['train.py'])))
    with pytest.raises(WorkDirLockedError, match='pid 1 on host other-node'):
        WorkDirLock(str(tmp_path)).acquire()
    # release never removes another process's lock
    lock.held = True
    lock.release()
    assert path.exists()


@pytest.mark.slow
def test_two_training_runs_in_one_work_dir(clip_dir, tmp_path):
    """tools/train.py twice on one work dir: the second stops before
    touching anything, naming the first; the first finishes intact."""
    go = tmp_path / 'go'
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), clip_dir, extra=f'''
custom_imports = dict(imports=['seco_mm', 'rel_helpers'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='SeCoMomentumHook', momentum=0.99, cosine=True),
                dict(type='RelWaitHook', path={str(go)!r})]
''')
    work = tmp_path / 'work'
    log1 = tmp_path / 'first.log'
    with open(log1, 'wb') as f:
        first = start_train(cfg, str(work), stdout=f)
    try:
        deadline = time.time() + 240
        while not (work / LOCK_NAME).exists():
            assert first.poll() is None and time.time() < deadline, \
                log1.read_text()[-3000:]
            time.sleep(0.5)
        second = start_train(cfg, str(work))
        out2 = second.communicate(timeout=300)[0].decode(errors='replace')
        assert first.poll() is None, 'the first run ended too early'
        go.touch()  # let the first run finish
        first.wait(timeout=300)
        out1 = log1.read_text()
    finally:
        first.kill()
    assert second.returncode != 0
    assert 'WorkDirLockedError' in out2
    assert (f'is in use by another training run: pid {first.pid} on host '
            f'{socket.gethostname()}, started') in out2
    assert first.returncode == 0, out1[-3000:]
    assert sorted(f for f in os.listdir(work) if 'pth' in f) == [
        'epoch_1.pth', 'epoch_2.pth']
    with open(work / 'last_checkpoint') as f:
        assert f.read() == osp.join(str(work), 'epoch_2.pth')
    assert not (work / LOCK_NAME).exists()
