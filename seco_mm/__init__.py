"""seco-mm: SeCo (Yao et al., AAAI 2021) as an mmaction2 plugin.

Importing this package registers every component into mmaction2's
registries (scope ``mmaction``). Configs pull it in with
``custom_imports = dict(imports=['seco_mm'], allow_failed_imports=False)``.
"""
from .utils.logging import filter_library_warnings

filter_library_warnings()  # before mmaction/mmengine are first imported

from . import compat  # noqa: E402

compat.apply_all()  # must run before anything imports mmaction.models

from . import datasets, engine, evaluation, models, tracking, utils  # noqa: E402,F401,E501

__version__ = '0.1.0'
__all__ = ['__version__', 'compat']
