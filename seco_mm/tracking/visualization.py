"""OTB success and precision plots (matplotlib, Agg canvas).

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas
directly, so importing seco_mm never changes the global pyplot backend.
"""
import os.path as osp
import textwrap
from typing import Dict, Optional

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ['plot_success', 'plot_precision']


def _plot(curves: Dict[str, Dict], key: str, xs_key: str, score_key: str,
          title: str, xlabel: str, ylabel: str, path: str,
          xscale: float = 1.0, subtitle: Optional[str] = None) -> str:
    fig = Figure(figsize=(6.0, 4.6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    order = sorted(curves, key=lambda n: -curves[n][score_key])
    for name in order:
        res = curves[name]
        style = '--' if res.get('baseline') else '-'
        ax.plot(
            np.asarray(res[xs_key]) * xscale,
            np.asarray(res[key]) / 100.0,
            style,
            lw=1.8,
            label=f'{name} [{res[score_key] / 100:.3f}]')
    ax.set_xlim(0, float(np.max(next(iter(curves.values()))[xs_key])) *
                xscale)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if subtitle:
        title = title + '\n' + '\n'.join(textwrap.wrap(subtitle, 70))
    ax.set_title(title, fontsize=9 if subtitle else None)
    ax.grid(alpha=0.3)
    ax.legend(loc='best', fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_success(curves: Dict[str, Dict], path: str,
                 title: str = 'Success plots of OPE',
                 subtitle: Optional[str] = None) -> str:
    """Success rate vs IoU threshold; legend shows the AUC.

    Args:
        curves: ``{name: eval_ope result}`` (``success_curve``,
            ``iou_thresholds``, ``success``); ``baseline=True`` draws dashed.
        path: output PNG.
        subtitle: a second title line (which backbone, head and data).
    """
    return _plot(curves, 'success_curve', 'iou_thresholds', 'success', title,
                 'Overlap threshold', 'Success rate', osp.abspath(path),
                 subtitle=subtitle)


def plot_precision(curves: Dict[str, Dict], path: str,
                   title: str = 'Precision plots of OPE',
                   subtitle: Optional[str] = None) -> str:
    """Precision vs centre-error threshold (px); legend shows P@20."""
    return _plot(curves, 'precision_curve', 'pixel_thresholds', 'precision',
                 title, 'Location error threshold (px)', 'Precision',
                 osp.abspath(path), subtitle=subtitle)
