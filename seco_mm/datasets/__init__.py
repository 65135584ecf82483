from .seco_video_dataset import (AnnotationError, SeCoVideoDataset,
                                 parse_video_list, scan_videos)
from .transforms import *  # noqa: F401,F403

__all__ = ['AnnotationError', 'SeCoVideoDataset', 'parse_video_list',
           'scan_videos']
