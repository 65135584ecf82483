from . import safe_load
from .hooks import *  # noqa: F401,F403

# every checkpoint mmengine reads (load_from, resume, init_cfg Pretrained,
# any URL scheme) goes through the project's weights-only loader
safe_load.register()
