"""Per-epoch loss curves of a training run, read from mmengine's logs.

mmengine writes every logged iteration window as one JSON line to
``WORK_DIR/<timestamp>/vis_data/scalars.json``; a resumed run starts a new
timestamp folder. :func:`load_scalars` merges them (a later folder wins on the
same step), :func:`epoch_means` averages each logged scalar per epoch and
:func:`loss_trend` says, per loss, whether the last epoch ended below a
reference epoch. :func:`load_knn_curve` reads the records of the online
k-NN monitor (``KNNMonitorHook``: ``knn/top1``, ``knn/R@k``, ``knn/epoch``),
:func:`knn_rows` tabulates them and :func:`plot_training_curves` draws the
per-epoch losses beside the k-NN curve (PNG).
"""
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

__all__ = ['load_scalars', 'epoch_means', 'loss_trend', 'SECO_LOSSES',
           'load_knn_curve', 'knn_rows', 'plot_training_curves']

SECO_LOSSES = ('loss', 'loss_inter', 'loss_intra', 'loss_order')


def _records(work_dir: str):
    """(path, line number, record) of every scalars.json line, oldest run
    folder first."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {work_dir}: not an mmengine '
            'work dir, or nothing was logged yet')
    for path in files:  # timestamp names sort in time order
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield path, line_no, json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f'{path}:{line_no}: not JSON ({e})')


def load_scalars(work_dir: str) -> List[dict]:
    """Training records (they carry 'epoch' and 'step'), sorted by step."""
    by_step = {}
    for _, _, record in _records(work_dir):
        if 'epoch' in record and 'step' in record:
            by_step[record['step']] = record
    return [by_step[k] for k in sorted(by_step)]


def load_knn_curve(work_dir: str) -> List[dict]:
    """The k-NN monitor's records, one per evaluated epoch, sorted by epoch.

    Returns:
        list[dict]: ``epoch`` (completed epochs, 0 = before training),
        ``step``, ``top1``, ``R@k`` ... (percent) and ``seconds``; a resumed
        run's later record wins for the same epoch. Empty if the monitor
        was off.
    """
    by_epoch = {}
    for path, line_no, record in _records(work_dir):
        if 'knn/top1' not in record:
            continue
        if 'knn/epoch' not in record:
            raise ValueError(f'{path}:{line_no}: k-NN record without '
                             "'knn/epoch'")
        row = {k[len('knn/'):]: v for k, v in record.items()
               if k.startswith('knn/')}
        row['epoch'] = int(row['epoch'])
        row['step'] = record.get('step')
        by_epoch[row['epoch']] = row
    return [by_epoch[e] for e in sorted(by_epoch)]


def knn_rows(curve: Sequence[dict]) -> List[tuple]:
    """Table rows (header first) of :func:`load_knn_curve` output."""
    if not curve:
        return []
    recalls = sorted((k for k in curve[0] if k.startswith('R@')),
                     key=lambda k: int(k[2:]))
    rows = [('k-NN monitor', 'top-1 (%)', *(f'{k} (%)' for k in recalls),
             'cost (s)')]
    for r in curve:
        rows.append((f"epoch {r['epoch']}", f"{r['top1']:.1f}",
                     *(f'{r[k]:.1f}' for k in recalls),
                     f"{r.get('seconds', float('nan')):.1f}"))
    return rows


def plot_training_curves(records: Sequence[dict], curve: Sequence[dict],
                         path: str, keys: Sequence[str] = SECO_LOSSES,
                         title: Optional[str] = None) -> str:
    """PNG: per-epoch loss means (left) beside the k-NN curve (right).

    Args:
        records: :func:`load_scalars` output. curve: :func:`load_knn_curve`
            output (may be empty: the right panel then says so).
        path: output PNG.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_knn = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    means = epoch_means(records, keys)
    epochs = sorted(means)
    for k in keys:
        xs = [e for e in epochs if k in means[e]]
        ax_loss.plot(xs, [means[e][k] for e in xs], marker='.', label=k)
    ax_loss.set_xlabel('epoch')
    ax_loss.set_ylabel('mean loss over the epoch')
    ax_loss.set_title('pretraining losses')
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    if curve:
        xs = [r['epoch'] for r in curve]
        for k in ['top1'] + sorted((k for k in curve[0]
                                    if k.startswith('R@')),
                                   key=lambda k: int(k[2:])):
            ax_knn.plot(xs, [r[k] for r in curve], marker='o',
                        label='k-NN top-1' if k == 'top1' else
                        f'retrieval {k}')
        ax_knn.legend(fontsize=8)
    else:
        ax_knn.text(0.5, 0.5, 'k-NN monitor off', ha='center')
    ax_knn.set_xlabel('epoch (0 = before training)')
    ax_knn.set_ylabel('%')
    ax_knn.set_title('online k-NN monitor (query backbone)')
    ax_knn.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path


def epoch_means(records: Sequence[dict],
                keys: Sequence[str]) -> Dict[int, Dict[str, float]]:
    """{epoch: {key: mean of the logged windows of that epoch}}."""
    sums = defaultdict(lambda: defaultdict(list))
    for r in records:
        for k in keys:
            if k in r:
                sums[r['epoch']][k].append(float(r[k]))
    return {
        e: {k: sum(v) / len(v)
            for k, v in per_key.items()}
        for e, per_key in sorted(sums.items())
    }


def loss_trend(records: Sequence[dict],
               keys: Sequence[str] = SECO_LOSSES,
               reference_epoch: int = 2) -> Dict[str, dict]:
    """Per loss: its mean in ``reference_epoch``, its peak and last epoch.

    ``reference_epoch`` defaults to 2 for MoCo-style training: in epoch 1 the
    negative queue still holds its random initial vectors, which are easy
    negatives, so ``loss_inter`` starts artificially low.

    Returns:
        {key: dict(reference=..., peak=..., last=..., decreased=bool)}; a
        loss decreased when its last-epoch mean is below the reference.
    """
    means = epoch_means(records, keys)
    if reference_epoch not in means:
        raise ValueError(f'epoch {reference_epoch} was not logged (logged: '
                         f'{sorted(means)})')
    last = max(means)
    if last <= reference_epoch:
        raise ValueError(f'the run stopped at epoch {last}; the trend needs '
                         f'epochs after {reference_epoch}')
    out = {}
    for k in keys:
        series = [means[e][k] for e in means if k in means[e]]
        if k not in means[reference_epoch] or k not in means[last]:
            raise KeyError(f'{k!r} is missing from the logged epochs')
        ref, end = means[reference_epoch][k], means[last][k]
        out[k] = dict(
            reference=ref,
            peak=max(series),
            last=end,
            decreased=bool(end < ref))
    out['epochs'] = dict(reference=reference_epoch, last=last)
    return out
