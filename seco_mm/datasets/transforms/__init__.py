from .color import RandomColorJitter, RandomGaussianBlur, RandomGrayscale
from .loading import (SeCoDecordDecode, SeCoDecordInit, SeCoPyAVDecode,
                      SeCoPyAVInit, SeCoRawFrameDecode, VideoReadError)
from .multi_view import SeCoMultiView
from .seco_sample_frames import (SeCoSampleFrames, SeCoSampleIndices,
                                 grid_indices, sample_one_frame_index,
                                 sample_seco_indices,
                                 sample_seco_keyframe_indices)
from .video_reader import count_frames, keyframe_indices, read_frames

__all__ = [
    'RandomColorJitter', 'RandomGaussianBlur', 'RandomGrayscale',
    'SeCoDecordInit', 'SeCoDecordDecode', 'SeCoPyAVInit', 'SeCoPyAVDecode',
    'SeCoRawFrameDecode', 'SeCoMultiView', 'SeCoSampleFrames',
    'SeCoSampleIndices', 'grid_indices', 'sample_one_frame_index',
    'sample_seco_indices',
    'sample_seco_keyframe_indices', 'VideoReadError', 'count_frames',
    'keyframe_indices', 'read_frames'
]
