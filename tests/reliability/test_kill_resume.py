"""SIGKILL or SIGTERM during training or a checkpoint save, then `--resume`.

Runs tools/train.py in subprocesses (3 epochs x 2 iterations, one loading
process, fixed seed, deterministic) and compares the final checkpoint of a
killed-and-resumed run with an uninterrupted one: model (query and EMA
encoders, queue, queue pointer, BN statistics), optimizer, schedulers,
iteration. Marked slow: each test trains in subprocesses.
"""
import os
import os.path as osp
import signal
import time

import pytest
import torch
from rel_helpers import build_runner, start_train, write_tiny_config

from seco_mm.engine.checkpoint_io import CheckpointError, check_checkpoint_file
from seco_mm.engine.work_dir_lock import LOCK_NAME

EPOCHS = 3
pytestmark = pytest.mark.slow


def _config(tmp_path, clip_dir, name, kill='', max_keep=2, fault='',
            num_workers=0):
    """Tiny config; ``kill`` holds RelSigkillHook arguments, e.g.
    ``'after_iter=5'``; ``fault`` a whole hook dict."""
    hooks = ["dict(type='SeCoMomentumHook', momentum=0.99, cosine=True)"]
    if kill:
        hooks.append(f"dict(type='RelSigkillHook', {kill})")
    if fault:
        hooks.append(fault)
    extra = f'''
custom_imports = dict(imports=['seco_mm', 'rel_helpers'],
                      allow_failed_imports=False)
custom_hooks = [{', '.join(hooks)}]
randomness = dict(seed=0, deterministic=True)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts={max_keep}))
'''
    return write_tiny_config(str(tmp_path / f'{name}.py'), clip_dir,
                             max_epochs=EPOCHS, extra=extra,
                             num_workers=num_workers)


def _train(cfg, work_dir, *args, expect_kill=False, expect_rc=0):
    proc = start_train(cfg, work_dir, *args)
    out = proc.communicate(timeout=300)[0].decode(errors='replace')
    if expect_kill:
        expect_rc = -signal.SIGKILL
    assert proc.returncode == expect_rc, out[-3000:]
    return out


def _load(path):
    return torch.load(path, map_location='cpu')  # weights_only=True


def _assert_same_state(a, b):
    assert a['meta']['epoch'] == b['meta']['epoch'] == EPOCHS
    assert a['meta']['iter'] == b['meta']['iter'] == EPOCHS * 2
    sa, sb = a['state_dict'], b['state_dict']
    assert sa.keys() == sb.keys()
    for key in ('queue', 'queue_ptr', 'momentum_encoder.steps',
                'momentum_encoder.module.0.conv1.conv.weight'):
        assert key in sa
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=1e-6,
                                   msg=lambda m, k=key: f'{k}: {m}')
    oa, ob = a['optimizer']['state'], b['optimizer']['state']
    assert oa.keys() == ob.keys() and len(oa) > 0
    for idx in oa:
        torch.testing.assert_close(oa[idx]['momentum_buffer'],
                                   ob[idx]['momentum_buffer'], rtol=0,
                                   atol=1e-6)
    assert a['param_schedulers'] == b['param_schedulers']
    assert a['optimizer']['param_groups'][0]['lr'] == \
        b['optimizer']['param_groups'][0]['lr']


@pytest.fixture(scope='module')
def reference(clip_dir, tmp_path_factory):
    """An uninterrupted run: its work dir and final checkpoint."""
    tmp = tmp_path_factory.mktemp('reference')
    work = str(tmp / 'work')
    _train(_config(tmp, clip_dir, 'ref'), work)
    return work, _load(osp.join(work, f'epoch_{EPOCHS}.pth'))


def test_sigkill_during_training_then_resume(clip_dir, tmp_path, reference):
    work = str(tmp_path / 'work')
    # killed right after iteration 5 = epoch 3, batch 1
    _train(_config(tmp_path, clip_dir, 'kill',
                   'after_iter=5'), work, expect_kill=True)
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'epoch_2.pth')
    assert not osp.exists(osp.join(work, f'epoch_{EPOCHS}.pth'))
    out = _train(_config(tmp_path, clip_dir, 'resume'), work, '--resume')
    assert 'resumed epoch: 2, iter: 4' in out
    # the killed run's lock was left behind and is taken over
    assert 'taking over the lock' in out and 'no longer alive' in out
    assert not osp.exists(osp.join(work, LOCK_NAME))  # released at exit
    _assert_same_state(_load(osp.join(work, f'epoch_{EPOCHS}.pth')),
                       reference[1])


def test_sigterm_saves_the_current_iteration_then_resume_is_exact(
        clip_dir, tmp_path, reference):
    """SIGTERM after iteration 3 = epoch 2, batch 1 of 2: iter_3.pth is
    written atomically, the process exits with 143 and releases its lock;
    --resume skips the trained batch of epoch 2 and ends with the weights,
    EMA encoder, queue, pointer, optimizer and schedulers of the
    uninterrupted run."""
    work = str(tmp_path / 'work')
    out = _train(_config(tmp_path, clip_dir, 'term',
                         fault="dict(type='RelSignalHook', after_iter=3)"),
                 work, expect_rc=143)
    saved = osp.join(work, 'iter_3.pth')
    assert (f'received SIGTERM: saved {saved} after iteration 3 (epoch 2); '
            'stopping') in out
    assert sorted(f for f in os.listdir(work) if 'pth' in f) == [
        'epoch_1.pth', 'iter_3.pth']  # nothing half-written
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == saved
    check_checkpoint_file(saved)
    ckpt = _load(saved)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (1, 3)
    for key in ('queue', 'queue_ptr', 'momentum_encoder.steps'):
        assert key in ckpt['state_dict']
    assert int(ckpt['state_dict']['momentum_encoder.steps']) == 3
    assert not osp.exists(osp.join(work, LOCK_NAME))

    out = _train(_config(tmp_path, clip_dir, 'resume'), work, '--resume')
    assert 'resumed epoch: 1, iter: 3' in out
    assert 'resuming inside epoch 2: skipping its first 1 of 2 batches' in out
    assert sorted(f for f in os.listdir(work) if 'pth' in f) == [
        'epoch_2.pth', 'epoch_3.pth']  # iter_3.pth superseded, removed
    _assert_same_state(_load(osp.join(work, f'epoch_{EPOCHS}.pth')),
                       reference[1])


def test_sigkill_during_checkpoint_save_then_resume(clip_dir, tmp_path,
                                                    reference):
    """Killed with half of epoch_2.pth written and max_keep_ckpts=1: the
    previous checkpoint survives (mmengine would have deleted it before
    saving) and is what `--resume` picks."""
    work = str(tmp_path / 'work')
    _train(_config(tmp_path, clip_dir, 'kill',
                   'during_save_epoch=2', max_keep=1), work,
           expect_kill=True)
    assert sorted(f for f in os.listdir(work) if 'pth' in f) == [
        'epoch_1.pth', 'epoch_2.pth.tmp']  # no truncated epoch_2.pth
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'epoch_1.pth')
    check_checkpoint_file(osp.join(work, 'epoch_1.pth'))
    with pytest.raises(CheckpointError, match='truncated'):
        check_checkpoint_file(osp.join(work, 'epoch_2.pth.tmp'))
    out = _train(_config(tmp_path, clip_dir, 'resume', max_keep=1), work,
                 '--resume')
    assert 'resumed epoch: 1, iter: 2' in out
    assert 'epoch_2.pth.tmp, left by a checkpoint save that was ' \
        'interrupted' in out
    assert sorted(f for f in os.listdir(work) if 'pth' in f) == [
        f'epoch_{EPOCHS}.pth']
    _assert_same_state(_load(osp.join(work, f'epoch_{EPOCHS}.pth')),
                       reference[1])


def _truncated_copy(reference, tmp_path):
    src = osp.join(reference[0], 'epoch_2.pth')
    work = tmp_path / 'work'
    work.mkdir()
    dst = str(work / 'epoch_2.pth')
    with open(src, 'rb') as f:
        data = f.read()
    with open(dst, 'wb') as f:
        f.write(data[:len(data) * 2 // 3])
    return str(work), dst


def test_truncated_checkpoint_named_on_auto_resume(clip_dir, tmp_path,
                                                   reference):
    work, bad = _truncated_copy(reference, tmp_path)
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(bad)
    runner = build_runner(_config(tmp_path, clip_dir, 'cfg'), work,
                          resume=True)
    with pytest.raises(CheckpointError, match=f'checkpoint {bad}: truncated'):
        runner.train()


def test_truncated_checkpoint_named_on_explicit_resume(clip_dir, tmp_path,
                                                       reference):
    work, bad = _truncated_copy(reference, tmp_path)
    runner = build_runner(_config(tmp_path, clip_dir, 'cfg'), work,
                          resume=True, load_from=bad)
    with pytest.raises(CheckpointError, match=f'checkpoint {bad}: truncated'):
        runner.train()
    # mmengine alone would only say: "PytorchStreamReader failed reading zip
    # archive: failed finding central directory" without the file name
    with pytest.raises(RuntimeError, match='central directory'):
        torch.load(bad)


def test_empty_last_checkpoint_marker(clip_dir, tmp_path, reference):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text('')
    runner = build_runner(_config(tmp_path, clip_dir, 'cfg'), str(work),
                          resume=True)
    with pytest.raises(CheckpointError, match='last_checkpoint: is empty'):
        runner.train()


def test_reference_checkpoints_are_complete(reference):
    work = reference[0]
    assert sorted(f for f in os.listdir(work) if 'pth' in f) == [
        'epoch_2.pth', 'epoch_3.pth']  # max_keep_ckpts=2
    for name in ('epoch_2.pth', 'epoch_3.pth'):
        check_checkpoint_file(osp.join(work, name))


def test_sigterm_to_the_process_group_with_loading_workers(clip_dir,
                                                           tmp_path):
    """SLURM signals every process of the job: the two loading workers get
    SIGTERM too. They ignore it, so none dies before the main process has
    written iter_1.pth and exited with 143 (PyTorch's workers die on
    SIGTERM, and the run then stops with 'DataLoader worker ... is killed
    by signal: Terminated' and no checkpoint)."""
    go = tmp_path / 'go'
    cfg = _config(tmp_path, clip_dir, 'group',
                  fault=f"dict(type='RelWaitHook', path={str(go)!r})",
                  num_workers=2)
    work = tmp_path / 'work'
    log = tmp_path / 'run.log'
    with open(log, 'wb') as f:
        proc = start_train(cfg, str(work), stdout=f, start_new_session=True)
    try:
        deadline = time.time() + 240
        while not osp.exists(f'{go}.waiting'):  # iteration 1 is done
            assert proc.poll() is None and time.time() < deadline, \
                log.read_text()[-3000:]
            time.sleep(0.5)
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers  # the loading workers are up
        os.killpg(proc.pid, signal.SIGTERM)  # main process and workers
        time.sleep(2)
        go.touch()
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = log.read_text()
    assert proc.returncode == 143, out[-3000:]
    assert 'killed by signal' not in out
    assert f'received SIGTERM: saved {work}/iter_1.pth after iteration 1' \
        in out
    check_checkpoint_file(str(work / 'iter_1.pth'))
    with open(work / 'last_checkpoint') as f:
        assert f.read() == str(work / 'iter_1.pth')


def _children(pid):
    with open(f'/proc/{pid}/task/{pid}/children') as f:
        return [int(x) for x in f.read().split()]
