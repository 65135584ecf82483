"""Building/training a tracker from a config and running OPE."""
from .build import (build_tracker, check_backbone_file,
                    set_backbone_checkpoint, train_tracker)
from .jobs import can_fork, plan_workers, run_jobs, state_fingerprint
from .opencv_trackers import OPENCV_TRACKERS, OpenCVTracker
from .ope import run_ope, static_box_predictions, total_fps, track_sequence

__all__ = [
    'build_tracker', 'check_backbone_file', 'set_backbone_checkpoint',
    'train_tracker', 'run_ope', 'static_box_predictions', 'total_fps',
    'track_sequence', 'OPENCV_TRACKERS', 'OpenCVTracker', 'can_fork',
    'plan_workers', 'run_jobs', 'state_fingerprint'
]
