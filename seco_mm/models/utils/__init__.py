from .batch_shuffle import batch_shuffle_ddp, batch_unshuffle_ddp
from .checkpoint_format import (BackboneWeights, SeCoCheckpointError,
                                build_backbone, load_backbone, read_backbone,
                                write_backbone)
from .moco_init import convert_moco_v2, load_moco_v2
from .momentum_encoder import MomentumEncoder

__all__ = [
    'batch_shuffle_ddp', 'batch_unshuffle_ddp', 'MomentumEncoder',
    'convert_moco_v2', 'load_moco_v2', 'BackboneWeights',
    'SeCoCheckpointError', 'build_backbone', 'load_backbone', 'read_backbone',
    'write_backbone'
]
