from .batch_shuffle import batch_shuffle_ddp, batch_unshuffle_ddp
from .momentum_encoder import MomentumEncoder
from .moco_init import convert_moco_v2, load_moco_v2

__all__ = [
    'batch_shuffle_ddp', 'batch_unshuffle_ddp', 'MomentumEncoder',
    'convert_moco_v2', 'load_moco_v2'
]
