from .annotation import (AnnotationError, parse_rawframe_list,
                         parse_video_list, scan_videos)
from .seco_rawframe_dataset import SeCoRawframeDataset
from .seco_video_dataset import SeCoVideoDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['AnnotationError', 'SeCoVideoDataset', 'SeCoRawframeDataset',
           'parse_video_list', 'parse_rawframe_list', 'scan_videos']
