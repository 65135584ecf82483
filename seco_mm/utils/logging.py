"""One place that decides which library output a seco-mm user sees.

Three kinds of noise, each silenced only on the console:

* Python warnings about choices this project pins on purpose and a user
  cannot act on (:data:`LIBRARY_WARNINGS`: setuptools' ``pkg_resources``
  deprecation, needed by mmengine 0.10.7, see ``docs/upstream_defects.md``
  defect 5; mmcv-lite's missing compiled ``MultiScaleDeformableAttention``,
  which no SeCo component uses). :func:`filter_library_warnings` ignores
  exactly these two messages; ``seco_mm`` calls it before importing mmaction.
* mmengine log records about mmaction2's own use of deprecated mmengine
  APIs (:data:`CONSOLE_NOISE`, e.g. ``"FileClient" will be deprecated``).
  :func:`quiet_console` drops them from console handlers only: the log file
  in the work dir keeps them.
* mmengine's per-parameter initialisation report (one line per parameter,
  ~720 lines for a ResNet with heads, when no log file is open) and its
  ``Loads checkpoint by ...`` prints. :func:`quiet_mmengine` raises the
  console handlers of the current and the ``mmengine`` logger for the
  duration of a block and swallows stdout prints; file handlers keep their
  level, so a Runner's log file still holds everything. mmengine's
  ``ProgressBar`` binds ``sys.stdout`` when its module is imported, so
  progress bars keep drawing inside the block.

mmengine itself is imported lazily: this module must be importable before
mmaction/mmengine are (the warnings fire during their import).
"""
import logging
import os
import re
import warnings
from contextlib import contextmanager, redirect_stdout

__all__ = ['LIBRARY_WARNINGS', 'CONSOLE_NOISE', 'filter_library_warnings',
           'quiet_console', 'quiet_mmengine']

# (category, regex matched against the start of the message)
LIBRARY_WARNINGS = (
    (UserWarning, r'pkg_resources is deprecated as an API'),
    (UserWarning, r'Fail to import ``MultiScaleDeformableAttention``'),
)
# mmengine log messages caused by mmaction2's code, not by the user's config
CONSOLE_NOISE = (
    r'"FileClient" will be deprecated in future',
    r'"HardDiskBackend" is the alias of "LocalBackend"',
)


def filter_library_warnings() -> None:
    """Ignore the :data:`LIBRARY_WARNINGS` messages (and nothing else)."""
    for category, message in LIBRARY_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=category)


class _DropConsoleNoise(logging.Filter):
    """Drops records whose message matches :data:`CONSOLE_NOISE`."""

    _pattern = re.compile('|'.join(CONSOLE_NOISE))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._pattern.search(record.getMessage())


def _console_handlers(logger: logging.Logger) -> list:
    # FileHandler subclasses StreamHandler: only true consoles qualify
    return [h for h in logger.handlers
            if isinstance(h, logging.StreamHandler)
            and not isinstance(h, logging.FileHandler)]


def _mmengine_loggers(logger=None) -> list:
    from mmengine.logging import MMLogger
    loggers = [logger or MMLogger.get_current_instance(),
               MMLogger.get_instance('mmengine')]
    return list({id(lg): lg for lg in loggers}.values())


class _DropProgress(logging.Filter):
    """Drops mmengine's per-iteration progress records: the LoggerHook lines
    that carry an ETA (``Epoch(train) [3][20/90]  lr: ... eta: 0:01:02``).
    Epoch summaries (validation and test metrics) have none and stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return ' eta: ' not in record.getMessage()


def _add_filter(handler: logging.Handler, kind: type) -> None:
    if not any(isinstance(f, kind) for f in handler.filters):
        handler.addFilter(kind())


def quiet_console(logger=None, progress: bool = True) -> None:
    """Drop :data:`CONSOLE_NOISE` from the console handlers of ``logger``
    (default: mmengine's current logger) and of the ``mmengine`` logger.

    Args:
        progress (bool): False (``--no-progress`` of the tools, for batch
            jobs): also drop the per-iteration progress lines from the
            console. The log file in the work dir keeps every line.
    """
    for lg in _mmengine_loggers(logger):
        for handler in _console_handlers(lg):
            _add_filter(handler, _DropConsoleNoise)
            if not progress:
                _add_filter(handler, _DropProgress)


@contextmanager
def quiet_mmengine(level: int = logging.ERROR, logger=None,
                   keep_prints: bool = False):
    """Silence mmengine's console output (init reports, checkpoint prints)
    inside the block; log files and progress bars are unaffected.

    Args:
        level (int): console handlers show only records at this level or
            above inside the block. Default: ``logging.ERROR``.
        logger: an ``MMLogger`` to quiet besides the ``mmengine`` one.
            Default: mmengine's current logger.
        keep_prints (bool): leave stdout alone (scripts whose own output
            is printed inside the block, e.g. the benchmarks); only the
            log records are held back then.
    """
    handlers = [h for lg in _mmengine_loggers(logger)
                for h in _console_handlers(lg)]
    old = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(max(level, h.level))
    try:
        if keep_prints:
            yield
        else:
            with open(os.devnull, 'w') as devnull, redirect_stdout(devnull):
                yield
    finally:
        for h, lvl in zip(handlers, old):
            h.setLevel(lvl)
