"""Config adjustments ``tools/train.py`` applies after merging the command
line, so that short runs and single-process loading work without restating
the dependent keys (each adjustment returns messages the tool logs).

* :func:`fit_schedulers_to_run`: overriding ``train_cfg.max_epochs`` (or
  ``max_iters``) alone would leave a cosine schedule sized for the config's
  original length, so a short run would never anneal. Schedulers that ended
  exactly where the original run ended are stretched or shrunk to end where
  the new run ends (``end``, and ``T_max`` when it spanned ``begin..end``);
  schedulers that would begin after the new run ends are left out (mmengine
  refuses ``begin >= end``). Warm-ups and anything else keep their values,
  and a scheduler set explicitly on the command line (its ``end`` then
  differs from the original length) is left as given. ``MultiStepLR``
  milestones are not moved.
* :func:`allow_zero_workers`: PyTorch rejects ``prefetch_factor`` and
  ``persistent_workers=True`` when ``num_workers=0``; with ``num_workers=0``
  they are reset (``prefetch_factor=None``, ``persistent_workers=False``).
"""
import copy
from typing import List, Optional

__all__ = ['run_length', 'fit_schedulers_to_run', 'allow_zero_workers']

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def run_length(cfg) -> Optional[tuple]:
    """``('epochs', n)`` or ``('iters', n)`` from ``cfg.train_cfg``, or None."""
    train_cfg = cfg.get('train_cfg') or {}
    if train_cfg.get('max_epochs') is not None:
        return 'epochs', train_cfg['max_epochs']
    if train_cfg.get('max_iters') is not None:
        return 'iters', train_cfg['max_iters']
    return None


def fit_schedulers_to_run(cfg, original: Optional[tuple]) -> List[str]:
    """Resize ``cfg.param_scheduler`` from the ``original`` run length
    (:func:`run_length` of the config file) to the current one, in place.

    Returns:
        list[str]: one message per scheduler changed or left out.
    """
    current = run_length(cfg)
    schedulers = cfg.get('param_scheduler')
    if (original is None or current is None or original[0] != current[0]
            or original[1] == current[1] or not schedulers):
        return []
    unit, old_end, new_end = current[0], original[1], current[1]
    single = not isinstance(schedulers, (list, tuple))
    kept, messages = [], []
    for i, sched in enumerate([schedulers] if single else schedulers):
        sched = copy.deepcopy(sched)
        name = f"param_scheduler[{i}] ({sched.get('type')})"
        if sched.get('by_epoch', True) != (unit == 'epochs'):
            kept.append(sched)
            continue
        begin = sched.get('begin', 0)
        if begin >= new_end:
            messages.append(f'{name} begins at {unit[:-1]} {begin}, after '
                            f'this {new_end}-{unit[:-1]} run ends: left out')
            continue
        if sched.get('end') == old_end:
            sched['end'] = new_end
            change = f'end {old_end} -> {new_end}'
            if sched.get('T_max') == old_end - begin:
                sched['T_max'] = new_end - begin
                change += f', T_max {old_end - begin} -> {new_end - begin}'
            messages.append(f'{name}: {change} (train_cfg.max_{unit} is '
                            f'{new_end}, the config file says {old_end})')
        kept.append(sched)
    cfg.param_scheduler = kept[0] if single and kept else kept
    return messages


def allow_zero_workers(cfg) -> List[str]:
    """Reset ``prefetch_factor``/``persistent_workers`` of every dataloader
    with ``num_workers=0``, in place.

    Returns:
        list[str]: one message per dataloader changed.
    """
    messages = []
    for key in _LOADERS:
        loader = cfg.get(key)
        if not loader or loader.get('num_workers', 0) != 0:
            continue
        changed = []
        if loader.get('prefetch_factor') is not None:
            loader['prefetch_factor'] = None
            changed.append('prefetch_factor=None')
        if loader.get('persistent_workers'):
            loader['persistent_workers'] = False
            changed.append('persistent_workers=False')
        if changed:
            messages.append(f'{key}.num_workers=0: set {", ".join(changed)} '
                            '(PyTorch accepts them only with worker '
                            'processes)')
    return messages
