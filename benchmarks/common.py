"""Shared helpers of the benchmark scripts: timing, statistics, tables, I/O,
and the command-line scaffolding every script repeats.

Machines are noisy (other jobs share the cores), so every script measures the
variants it compares *side by side in one run*: each round runs every variant
once, in a rotated order, and ratios are taken per round (paired) before the
median. Figures are medians with the inter-quartile range (IQR) as spread.
"""
import logging
import os
import os.path as osp
import platform
import resource
import sys
import time
from contextlib import contextmanager
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from mmengine.fileio import dump

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

DEFAULT_OUT_DIR = osp.join(ROOT, 'work_dirs', 'bench')

__all__ = [
    'ROOT', 'DEFAULT_OUT_DIR', 'Timing', 'interleave', 'stats', 'ratio_stats',
    'fmt_ms', 'fmt_stat', 'fmt_ratio', 'markdown_table', 'environment',
    'write_json', 'max_rss_mib', 'add_common_args', 'add_rounds_args',
    'add_threads_arg', 'set_threads', 'require_device', 'bench_setup',
    'worker_like_threads', 'recipe_view_pipeline'
]

RECIPE_DATA_CONFIG = osp.join(ROOT, 'configs', '_base_', 'datasets',
                              'kinetics400_seco.py')


def recipe_view_pipeline(crop: int) -> List[dict]:
    """The per-view augmentation of the paper's recipe at ``crop`` px.

    Read from configs/_base_/datasets/kinetics400_seco.py, so benchmarks
    measure exactly what training uses; only the Resize scale changes.
    """
    from mmengine.config import Config
    views = [v.to_dict() for v in
             Config.fromfile(RECIPE_DATA_CONFIG).view_pipeline]
    for view in views:
        if view['type'] == 'Resize':
            view['scale'] = (crop, crop)
    return views


class Timing:
    """Wall-clock and process-CPU seconds of repeated runs of one variant."""

    def __init__(self):
        self.wall: List[float] = []
        self.cpu: List[float] = []

    def run(self, fn: Callable[[], object]):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        self.wall.append(time.perf_counter() - t0)
        self.cpu.append(time.process_time() - c0)
        return out


def interleave(variants: Dict[str, Callable[[int], object]], rounds: int,
               warmup: int = 1) -> Dict[str, Timing]:
    """Run each variant once per round, rotating the order every round.

    Args:
        variants: name -> fn(round_index); the return value is ignored.
        rounds: timed rounds; ``warmup`` untimed rounds run first.
    Returns:
        dict: name -> :class:`Timing` with ``rounds`` entries each.
    """
    names = list(variants)
    timings = {n: Timing() for n in names}
    for r in range(warmup):
        for n in names:
            variants[n](-1 - r)
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            timings[n].run(lambda: variants[n](r))
    return timings


def stats(values: Sequence[float]) -> dict:
    """Median, quartiles, IQR relative to the median, count."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return dict(median=float('nan'), q25=float('nan'),
                    q75=float('nan'), iqr_pct=float('nan'), n=0)
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return dict(median=float(med), q25=float(q25), q75=float(q75),
                iqr_pct=float(100 * (q75 - q25) / med) if med else 0.0,
                n=int(v.size))


def ratio_stats(num: Sequence[float], den: Sequence[float]) -> dict:
    """Statistics of the paired per-round ratios ``num[i] / den[i]``."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    return stats(num / den)


def fmt_ms(seconds: float) -> str:
    return f'{seconds * 1e3:.1f}'


def fmt_stat(st: dict, scale: float = 1e3, digits: int = 1) -> str:
    """``median [q25-q75]`` of a :func:`stats` dict, scaled (ms by default)."""
    return (f'{st["median"] * scale:.{digits}f} '
            f'[{st["q25"] * scale:.{digits}f}-{st["q75"] * scale:.{digits}f}]')


def fmt_ratio(st: dict) -> str:
    return f'{st["median"]:.2f}x [{st["q25"]:.2f}-{st["q75"]:.2f}]'


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub markdown table."""
    lines = ['| ' + ' | '.join(str(c) for c in columns) + ' |',
             '|' + '|'.join('---' for _ in columns) + '|']
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def environment(device: str = 'cpu') -> dict:
    """What the figures were measured on (recorded with every result)."""
    import torch
    env = dict(python=platform.python_version(), torch=torch.__version__,
               machine=platform.machine(), cpus=os.cpu_count(),
               torch_threads=torch.get_num_threads(), device=device,
               loadavg_start=list(os.getloadavg()))
    try:
        import decord
        env['decord'] = decord.__version__
    except ImportError:  # pragma: no cover - decord is pinned
        pass
    if device.startswith('cuda') and torch.cuda.is_available():
        env['gpu'] = torch.cuda.get_device_name()
    return env


def worker_like_threads() -> None:
    """Single-threaded OpenCV and torch, as in a DataLoader worker.

    mmengine's Runner sets ``cv2.setNumThreads(0)`` and torch gives each
    worker one thread, so per-core data figures are measured that way.
    """
    import cv2
    import torch
    cv2.setNumThreads(0)
    torch.set_num_threads(1)


def max_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB, Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_json(result: dict, path: Optional[str]) -> Optional[str]:
    """Write ``result`` (with the end load average) to ``path``."""
    if not path:
        return None
    result.setdefault('env', {})['loadavg_end'] = list(os.getloadavg())
    result.setdefault('argv', [osp.relpath(osp.abspath(sys.argv[0]), ROOT)] +
                      sys.argv[1:])
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    dump(result, path, indent=1)  # mmengine: numpy arrays/scalars to JSON
    return path


def add_common_args(parser, name: str, device: bool = True):
    """--json-out (default work_dirs/bench/<name>.json) and --device."""
    parser.add_argument('--json-out',
                        default=osp.join(DEFAULT_OUT_DIR, f'{name}.json'),
                        help='where to write the results as JSON ("" = no)')
    if device:
        parser.add_argument('--device', default='cpu',
                            help='cpu or cuda[:i]; CUDA timings synchronise '
                            'before reading the clock')
    return parser


THREADS_HELP = "torch intra-op threads (default: torch's)"


def add_rounds_args(parser, rounds: int, warmup: Optional[int] = 1,
                    help: Optional[str] = None):
    """--rounds (timed rounds, default ``rounds``) and, unless ``warmup``
    is None, --warmup (untimed rounds run first)."""
    parser.add_argument('--rounds', type=int, default=rounds, help=help)
    if warmup is not None:
        parser.add_argument('--warmup', type=int, default=warmup,
                            help='untimed rounds run first')
    return parser


def add_threads_arg(parser, default: Optional[int] = None,
                    help: str = THREADS_HELP):
    """--threads: torch intra-op threads; None or 0 keeps torch's."""
    parser.add_argument('--threads', type=int, default=default, help=help)
    return parser


def set_threads(threads: Optional[int]) -> None:
    """``torch.set_num_threads(threads)`` unless None or 0 (torch's)."""
    if threads:
        import torch
        torch.set_num_threads(threads)


def require_device(device: str) -> None:
    """Exit with a message when ``--device cuda`` is asked for without
    CUDA."""
    if device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('--device cuda given but CUDA is not available')


@contextmanager
def bench_setup(args):
    """What a benchmark's ``main`` runs inside: ``--threads`` (if the
    script has it) applied to torch, ``--device`` (if it has it) checked,
    and mmengine's console INFO records (weight-init reports) kept out of
    the printed tables by :func:`seco_mm.utils.logging.quiet_mmengine`;
    warnings and the script's own prints still show."""
    from seco_mm.utils.logging import quiet_mmengine
    set_threads(getattr(args, 'threads', None))
    require_device(getattr(args, 'device', 'cpu'))
    with quiet_mmengine(logging.WARNING, keep_prints=True):
        yield
