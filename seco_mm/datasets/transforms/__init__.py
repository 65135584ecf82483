from .color import RandomColorJitter, RandomGaussianBlur, RandomGrayscale
from .multi_view import SeCoMultiView
from .seco_sample_frames import (SeCoSampleFrames, sample_seco_indices,
                                 sample_seco_keyframe_indices)
from .video_reader import (VideoReadError, count_frames, keyframe_indices,
                           read_frames)

__all__ = [
    'RandomColorJitter', 'RandomGaussianBlur', 'RandomGrayscale',
    'SeCoMultiView', 'SeCoSampleFrames', 'sample_seco_indices',
    'sample_seco_keyframe_indices', 'VideoReadError', 'count_frames',
    'keyframe_indices', 'read_frames'
]
