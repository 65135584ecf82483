"""seco-mm: SeCo (Yao et al., AAAI 2021) as an mmaction2 plugin.

Importing this package registers every component into mmaction2's
registries (scope ``mmaction``). Configs pull it in with
``custom_imports = dict(imports=['seco_mm'], allow_failed_imports=False)``.
"""
from . import compat

compat.apply_all()  # must run before anything imports mmaction.models

from . import datasets, engine, evaluation, models, tracking  # noqa: E402,F401

__version__ = '0.1.0'
__all__ = ['__version__', 'compat']
