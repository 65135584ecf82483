from .momentum_update_hook import SeCoMomentumHook

__all__ = ['SeCoMomentumHook']
from .atomic_checkpoint_hook import SeCoCheckpointHook
from .bad_sample_hook import BadSampleLimitError, SeCoBadSampleHook
from .knn_monitor_hook import KNNMonitorHook  # noqa: F401
from .nonfinite_loss_hook import NonFiniteLossError, SeCoNonFiniteLossHook
from .preemption_hook import Preempted, SeCoPreemptionHook
from .random_state_hook import SeCoRandomStateHook
from .threads_hook import SeCoThreadsHook
from .work_dir_lock_hook import SeCoWorkDirLockHook

__all__ += ['SeCoCheckpointHook', 'SeCoBadSampleHook', 'BadSampleLimitError',
            'SeCoNonFiniteLossHook', 'NonFiniteLossError',
            'SeCoRandomStateHook', 'SeCoPreemptionHook', 'Preempted',
            'SeCoThreadsHook', 'SeCoWorkDirLockHook']
