from .hooks import *  # noqa: F401,F403
from .channels_last import ChannelsLastHook, to_channels_last  # noqa: F401
from .optim_wrapper import (MixedPrecisionOptimWrapper,  # noqa: F401
                            mixed_precision, resolve_precision)
