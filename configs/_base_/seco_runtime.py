_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['seco_mm'], allow_failed_imports=False)

# Key encoder EMA after every optimizer step (m = 0.999, constant as in the
# paper; cosine=True raises it to 1.0 over training).
custom_hooks = [dict(type='SeCoMomentumHook', momentum=0.999, cosine=False)]

# mmaction2's defaults minus SyncBuffersHook: the queue is identical on all
# ranks by construction and key-encoder BN statistics stay per rank, as in
# MoCo (averaging them would also average the integer queue pointer).
default_hooks = dict(
    _delete_=True,
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Checkpoints hold the queue, its pointer, the key encoder, the optimizer
    # and the schedulers: `--resume` continues exactly. SeCoCheckpointHook is
    # mmengine's CheckpointHook with atomic writes (a kill never leaves a
    # truncated file) and a completeness check before resuming.
    checkpoint=dict(type='SeCoCheckpointHook', interval=5, max_keep_ckpts=3,
                    save_best=None),
    # Reliability (docs/reliability.md): random generators in checkpoints,
    # unreadable videos reported and limited, NaN/Inf losses stopped before
    # the optimizer step (action='skip' to skip such steps instead).
    rng_state=dict(type='SeCoRandomStateHook'),
    bad_samples=dict(type='SeCoBadSampleHook'),
    nonfinite_loss=dict(type='SeCoNonFiniteLossHook', action='stop'),
    # SIGTERM (SLURM, Kubernetes): checkpoint at the current iteration
    # (iter_N.pth), exit 143; --resume continues inside the epoch.
    preemption=dict(type='SeCoPreemptionHook', signals=('SIGTERM', )),
    # one run per work dir: a second one stops, naming the first
    work_dir_lock=dict(type='SeCoWorkDirLockHook'),
    # CPU intra-op threads; an int makes runs bit-identical whatever
    # OMP_NUM_THREADS says (None: torch's default, results then depend on
    # the thread count in the last bits and, after a few steps, beyond)
    threads=dict(type='SeCoThreadsHook', num_threads=None))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
