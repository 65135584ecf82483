"""Geometry helpers of the SiamFC tracker."""
from .crop import (center_to_xywh, context_size, crop_and_resize,
                   xywh_to_center)

__all__ = [
    'center_to_xywh', 'context_size', 'crop_and_resize', 'xywh_to_center'
]
