from .color import RandomColorJitter, RandomGaussianBlur, RandomGrayscale
from .multi_view import SeCoMultiView
from .seco_sample_frames import SeCoSampleFrames, sample_seco_indices
from .video_reader import VideoReadError, count_frames, read_frames

__all__ = [
    'RandomColorJitter', 'RandomGaussianBlur', 'RandomGrayscale',
    'SeCoMultiView', 'SeCoSampleFrames', 'sample_seco_indices',
    'VideoReadError', 'count_frames', 'read_frames'
]
