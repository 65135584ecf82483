from . import safe_load
from .channels_last import ChannelsLastHook, to_channels_last  # noqa: F401
from .hooks import *  # noqa: F401,F403
from .optim_wrapper import (MixedPrecisionOptimWrapper,  # noqa: F401
                            mixed_precision, resolve_precision)

# every checkpoint mmengine reads (load_from, resume, init_cfg Pretrained,
# any URL scheme) goes through the project's weights-only loader
safe_load.register()
