"""Shared helpers of the benchmark scripts: timing, statistics, tables, I/O.

Machines are noisy (other jobs share the cores), so every script measures the
variants it compares *side by side in one run*: each round runs every variant
once, in a rotated order, and ratios are taken per round (paired) before the
median. Figures are medians with the inter-quartile range (IQR) as spread.
"""
import os
import os.path as osp
import platform
import resource
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from mmengine.fileio import dump

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

DEFAULT_OUT_DIR = osp.join(ROOT, 'work_dirs', 'bench')

__all__ = [
    'ROOT', 'DEFAULT_OUT_DIR', 'Timing', 'interleave', 'stats', 'ratio_stats',
    'fmt_ms', 'fmt_stat', 'fmt_ratio', 'markdown_table', 'environment',
    'write_json', 'max_rss_mib', 'add_common_args', 'worker_like_threads',
    'quiet_mmengine', 'recipe_view_pipeline'
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


def quiet_mmengine() -> None:
    """Keep mmengine's INFO messages (weight-init reports) out of the tables."""
    import logging
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine', log_level='WARNING')
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    for handler in MMLogger.get_current_instance().handlers:
        handler.setLevel(logging.WARNING)


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
