"""Registered components; see the modules of this package."""
from .sot_metrics import *  # noqa
