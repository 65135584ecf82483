"""Per-epoch loss curves of a training run, read from mmengine's logs.

mmengine writes every logged iteration window as one JSON line to
``WORK_DIR/<timestamp>/vis_data/scalars.json``; a resumed run starts a new
timestamp folder. :func:`load_scalars` merges them (a later folder wins on the
same step), :func:`epoch_means` averages each logged scalar per epoch and
:func:`loss_trend` says, per loss, whether the last epoch ended below a
reference epoch.
"""
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Sequence

__all__ = ['load_scalars', 'epoch_means', 'loss_trend', 'SECO_LOSSES']

SECO_LOSSES = ('loss', 'loss_inter', 'loss_intra', 'loss_order')


def load_scalars(work_dir: str) -> List[dict]:
    """Training records (they carry 'epoch' and 'step'), sorted by step."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {work_dir}: not an mmengine '
            'work dir, or nothing was logged yet')
    by_step = {}
    for path in files:  # timestamp names sort in time order
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f'{path}:{line_no}: not JSON ({e})')
                if 'epoch' in record and 'step' in record:
                    by_step[record['step']] = record
    return [by_step[k] for k in sorted(by_step)]


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
