from .inter_frame_head import InterFrameHead
from .intra_frame_head import IntraFrameHead
from .order_head import OrderHead

__all__ = ['InterFrameHead', 'IntraFrameHead', 'OrderHead']
