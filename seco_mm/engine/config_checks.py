"""Reject impossible training configs before the Runner is built.

The model, heads and hooks check their own arguments when built; this
module checks the same values up front with the full config key in the
message (``model.inter_head.temperature``), plus what only the whole config
knows: a batch larger than the training set with ``drop_last`` gives zero
iterations per epoch.
"""
import math
import os
from numbers import Real

__all__ = ['ConfigError', 'check_train_config', 'check_batch_fits_dataset']


class ConfigError(ValueError):
    """An impossible config value; names the key."""

    def __init__(self, key: str, value, requirement: str):
        self.key = key
        super().__init__(f'{key} {requirement}, got {value!r}')


def _get(cfg, dotted: str, default=None):
    node = cfg
    for part in dotted.split('.'):
        if node is None or not hasattr(node, 'get'):
            return default
        node = node.get(part, None)
    return default if node is None else node


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return (isinstance(value, Real) and not isinstance(value, bool)
            and math.isfinite(value))


def _positive_int(cfg, key: str) -> None:
    value = _get(cfg, key)
    if value is not None and not (_is_int(value) and value > 0):
        raise ConfigError(key, value, 'must be a positive int')


def _check_number(cfg, key: str, low=None, high=None,
                  low_open=False) -> None:
    value = _get(cfg, key)
    if value is None:
        return
    ok = _is_real(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        if high is not None:
            bounds = f' in [{low}, {high}]'
        elif low is not None:
            bounds = f" {'>' if low_open else '>='} {low}"
        else:
            bounds = ''
        raise ConfigError(key, value, f'must be a finite number{bounds}')


def _check_hooks(cfg) -> None:
    hooks = list(cfg.get('custom_hooks') or [])
    hooks += [dict(h, _name=n) for n, h in
              (cfg.get('default_hooks') or {}).items() if h]
    for i, hook in enumerate(hooks):
        name = hook.get('_name')
        key = f'default_hooks.{name}' if name else f'custom_hooks[{i}]'
        if hook.get('type') == 'SeCoMomentumHook':
            value = hook.get('momentum', 0.999)
            if not (_is_real(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f'{key}.momentum', value,
                                  'must be a number in [0, 1]')
        if hook.get('type') == 'SeCoNonFiniteLossHook':
            action = hook.get('action', 'stop')
            if action not in ('stop', 'skip'):
                raise ConfigError(f'{key}.action', action,
                                  "must be 'stop' or 'skip'")


def check_train_config(cfg) -> None:
    """Check a SeCo training config; raise :class:`ConfigError` naming the key.

    Checks types and ranges of the values a typo most often breaks: batch
    size and workers, SeCo's queue, embedding size, temperatures, loss
    weights, EMA momentum, learning rate, epochs/iterations and the bad
    sample limit. Values absent from the config are left to their defaults.
    """
    _positive_int(cfg, 'train_dataloader.batch_size')
    workers = _get(cfg, 'train_dataloader.num_workers')
    if workers is not None and not (_is_int(workers) and workers >= 0):
        raise ConfigError('train_dataloader.num_workers', workers,
                          'must be an int >= 0')
    if _get(cfg, 'model.type') == 'SeCo':
        _positive_int(cfg, 'model.queue_len')
        _positive_int(cfg, 'model.feat_dim')
        for head in ('inter_head', 'intra_head'):
            _check_number(cfg, f'model.{head}.temperature', 0.0,
                          low_open=True)
        for head in ('inter_head', 'intra_head', 'order_head'):
            _check_number(cfg, f'model.{head}.loss_weight', 0.0)
    _check_number(cfg, 'optim_wrapper.optimizer.lr', 0.0, low_open=True)
    _positive_int(cfg, 'train_cfg.max_epochs')
    _positive_int(cfg, 'train_cfg.max_iters')
    _check_number(cfg, 'train_dataloader.dataset.max_bad_fraction', 0.0, 1.0)
    _positive_int(cfg, 'train_dataloader.dataset.bad_check_min_samples')
    _check_hooks(cfg)


def check_batch_fits_dataset(cfg, dataset_len: int = None) -> int:
    """With ``drop_last``, the per-process batch must fit the training set.

    Builds the training dataset (parses its annotation list or scans its
    folder) unless ``dataset_len`` is given; does nothing without
    ``drop_last``.

    Returns:
        int: the number of training samples (0 if not checked).
    Raises:
        ConfigError: naming ``train_dataloader.batch_size``.
    """
    loader = cfg.get('train_dataloader')
    if not loader or not loader.get('dataset') or not loader.get(
            'drop_last', False):
        return 0  # without drop_last a short last batch is fine
    if dataset_len is None:
        import copy

        from mmaction.registry import DATASETS
        from mmengine.registry import init_default_scope
        init_default_scope(cfg.get('default_scope', 'mmaction'))
        dataset = DATASETS.build(copy.deepcopy(loader['dataset']))
        dataset_len = len(dataset)
    batch = loader.get('batch_size', 1)
    world = int(os.environ.get('WORLD_SIZE', '1'))
    per_rank = dataset_len // world
    if loader.get('drop_last', False) and batch > per_rank:
        where = (f'{dataset_len} samples' if world == 1 else
                 f'{per_rank} samples per process ({dataset_len} over '
                 f'{world} processes)')
        raise ConfigError(
            'train_dataloader.batch_size', batch,
            f'is larger than the training set ({where}) while drop_last=True,'
            ' so an epoch would have no iteration; it must be <= '
            f'{per_rank}')
    return dataset_len
