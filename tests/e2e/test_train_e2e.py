"""Real training through mmengine's Runner on tiny videos."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tests.conftest import ROOT
from tests.e2e.runner_utils import tiny_runner_cfg


@pytest.mark.slow  # builds a Runner and trains 12 steps
def test_training_steps_reduce_the_total_loss(tiny_video_dir, tmp_path):
    """Optimisation works: steps on one batch of real views reduce the sum of
    the three losses. The queue is frozen here: its filling with real keys is
    what raises the inter-frame loss early in a real run (MoCo's plateau at
    log(1 + K)), which would hide whether the gradients point downhill."""
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path, batch_size=4)
    cfg.optim_wrapper.optimizer.lr = 0.02
    runner = Runner.from_cfg(cfg)
    model = runner.model
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    optim = runner.build_optim_wrapper(cfg.optim_wrapper)
    model.enqueue = lambda keys: None  # freeze the negatives
    model.train()
    totals = []
    for _ in range(12):
        log_vars = model.train_step(batch, optim)
        model.momentum_update(0.99)
        totals.append(float(log_vars['loss']))
        assert set(log_vars) >= {'loss_inter', 'loss_intra', 'loss_order'}
    assert totals[-1] < 0.8 * totals[0], totals


def _run(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.mark.slow  # trains two epochs with the Runner
def test_resume_restores_queue_ema_optimizer_and_iteration(tiny_video_dir,
                                                           tmp_path):
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path / 'a', max_epochs=2)
    first = _run(cfg)
    ckpt_path = osp.join(cfg.work_dir, 'epoch_1.pth')
    ckpt = torch.load(ckpt_path, map_location='cpu')
    state = ckpt['state_dict']
    assert int(state['queue_ptr']) == (4 * 3 * 2) % 16  # 4 iters x 3B keys
    assert first.iter == 8

    cfg2 = tiny_runner_cfg(tiny_video_dir, tmp_path / 'a', max_epochs=2)
    cfg2.resume, cfg2.load_from = True, ckpt_path
    resumed = Runner.from_cfg(cfg2)
    resumed._init_model_weights()
    resumed.load_or_resume()
    model = resumed.model
    assert resumed.iter == 4 and resumed.epoch == 1
    assert torch.equal(model.queue, state['queue'])
    assert int(model.queue_ptr) == int(state['queue_ptr'])
    for k, v in model.momentum_encoder.state_dict().items():
        assert torch.equal(v, state[f'momentum_encoder.{k}']), k
    opt_state = resumed.optim_wrapper.optimizer.state_dict()['state']
    saved = ckpt['optimizer']['state']
    assert opt_state.keys() == saved.keys() and len(saved) > 0
    for k in saved:
        assert torch.equal(opt_state[k]['momentum_buffer'],
                           saved[k]['momentum_buffer'])
    lr_now = resumed.optim_wrapper.get_lr()['lr'][0]
    assert lr_now == pytest.approx(ckpt['optimizer']['param_groups'][0]['lr'])


@pytest.mark.slow  # torchrun: two training processes
def test_ddp_two_processes_on_cpu_gather_keys_into_one_queue(tiny_video_dir,
                                                             tmp_path):
    """torchrun, 2 processes, gloo: 2 iterations; the queue receives the keys
    of both ranks (pointer = iters x 3 views x batch x world)."""
    cfg = tiny_runner_cfg(tiny_video_dir, tmp_path / 'ddp', max_epochs=1,
                          batch_size=2, queue_len=64)
    cfg.train_dataloader.dataset.indices = 8  # 8 videos / (2 x 2) = 2 iters
    cfg_path = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_path))
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    port = str(29500 + os.getpid() % 1000)
    out = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={port}', osp.join(ROOT, 'tools', 'train.py'),
         str(cfg_path), '--launcher', 'pytorch'],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    ckpt = torch.load(str(tmp_path / 'ddp' / 'epoch_1.pth'),
                      map_location='cpu')
    assert int(ckpt['state_dict']['queue_ptr']) == 2 * 3 * 2 * 2
    assert ckpt['meta']['iter'] == 2  # 8 videos / (batch 2 x 2 processes)


@pytest.mark.slow
def test_kinetics_recipe_runs_an_iteration_on_a_kinetics_layout(tmp_path):
    """configs/seco_r50_kinetics.py unchanged but for data paths and the
    per-GPU batch: R50, 224 px, queue 131072, one iteration."""
    from tests.conftest import moving_square_frames, write_video
    root = tmp_path / 'kinetics400'
    lines = []
    for i, cls in enumerate(['abseiling', 'air_drumming']):
        for j in range(2):
            rel = f'{cls}/clip{j}_000010_000020.mp4'
            write_video(str(root / 'videos_train' / rel),
                        moving_square_frames(i * 2 + j, num_frames=16,
                                             size=160))
            lines.append(f'{rel} {i}')
    (root / 'kinetics400_train_list_videos.txt').write_text(
        '\n'.join(lines) + '\n')
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
         osp.join(ROOT, 'configs', 'seco_r50_kinetics.py'), '--work-dir',
         str(tmp_path / 'work'), '--cfg-options',
         f'train_dataloader.dataset.ann_file={root}/kinetics400_train_list_videos.txt',
         f'train_dataloader.dataset.data_prefix.video={root}/videos_train',
         'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         'train_dataloader.prefetch_factor=None', 'train_cfg.max_epochs=1',
         'default_hooks.logger.interval=1',
         'default_hooks.checkpoint.interval=1'],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    ckpt = torch.load(str(tmp_path / 'work' / 'epoch_1.pth'),
                      map_location='cpu')
    assert ckpt['state_dict']['queue'].shape == (131072, 128)
    assert ckpt['state_dict']['backbone.layer4.2.conv3.conv.weight'].shape[0] \
        == 2048
    assert int(ckpt['state_dict']['queue_ptr']) == 2 * 3 * 2
