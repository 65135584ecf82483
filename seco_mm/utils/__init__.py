"""Small helpers shared by the tools and the package (no registered
components). Importing this package imports only the standard library."""
from .logging import (filter_library_warnings, quiet_console,
                      quiet_mmengine)

__all__ = ['filter_library_warnings', 'quiet_console', 'quiet_mmengine']
