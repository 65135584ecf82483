"""Reject impossible training configs before the Runner is built.

Each value is checked in one place. The components of this package check
their own arguments when they are built, naming the key: SeCo
(``model.queue_len``, ``model.feat_dim``), its heads
(``model.inter_head.temperature``, ``...loss_weight``), the datasets
(``SeCoVideoDataset.max_bad_fraction``) and hooks
(``SeCoMomentumHook.momentum``, ``SeCoNonFiniteLossHook.action``);
tools/train.py builds the training set before the Runner
(:func:`check_train_dataset`), so dataset errors come before anything is
written. This module keeps only what no component of ours checks with the
key in the message: :func:`check_train_config` for the values read by
PyTorch and mmengine (batch size, workers, learning rate, run length), and
what only the whole config and the training set together know
(:func:`check_train_dataset`): a batch larger than the training set with
``drop_last`` gives zero iterations per epoch; without ``drop_last`` a last
batch of one clip crashes SeCo's BatchNorm at the end of the epoch; a label
outside the classifier's ``num_classes`` crashes the loss mid-epoch.
"""
import copy
import math
import os
from numbers import Real

import numpy as np

__all__ = ['ConfigError', 'check_train_config', 'check_batch_fits_dataset',
           'check_train_dataset', 'check_labels_fit_head',
           'check_last_batch']


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


def _positive_number(cfg, key: str) -> None:
    value = _get(cfg, key)
    if value is not None and not (_is_real(value) and value > 0):
        raise ConfigError(key, value, 'must be a finite number > 0')


def check_train_config(cfg) -> None:
    """Check the values PyTorch and mmengine read without naming the key;
    raise :class:`ConfigError` naming it.

    Batch size and workers (the DataLoader), learning rate (the optimizer,
    which accepts 0 and NaN), epochs/iterations (the train loop). Values
    absent from the config are left to their defaults; the model's, the
    datasets' and the hooks' own arguments are checked when they are built.
    """
    _positive_int(cfg, 'train_dataloader.batch_size')
    workers = _get(cfg, 'train_dataloader.num_workers')
    if workers is not None and not (_is_int(workers) and workers >= 0):
        raise ConfigError('train_dataloader.num_workers', workers,
                          'must be an int >= 0')
    _positive_number(cfg, 'optim_wrapper.optimizer.lr')
    _positive_int(cfg, 'train_cfg.max_epochs')
    _positive_int(cfg, 'train_cfg.max_iters')


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
        dataset_len = len(_build_train_dataset(cfg))
    batch = loader.get('batch_size', 1)
    per_rank = dataset_len // _world_size()  # the sampler drops the rest
    if batch > per_rank:
        where = _samples_per_process(per_rank, dataset_len)
        raise ConfigError(
            'train_dataloader.batch_size', batch,
            f'is larger than the training set ({where}) while drop_last=True,'
            ' so an epoch would have no iteration; it must be <= '
            f'{per_rank}')
    return dataset_len


def _build_train_dataset(cfg):
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return DATASETS.build(copy.deepcopy(cfg['train_dataloader']['dataset']))


def _world_size() -> int:
    return int(os.environ.get('WORLD_SIZE', '1'))


def _samples_per_process(per_rank: int, dataset_len: int) -> str:
    """How the error messages say what one process samples."""
    world = _world_size()
    if world == 1:
        return f'{dataset_len} samples'
    return (f'{per_rank} samples per process ({dataset_len} over {world} '
            'processes)')


def check_last_batch(cfg, dataset_len: int) -> None:
    """SeCo without ``drop_last``: refuse a last batch of exactly one clip.

    mmengine's ``DefaultSampler`` gives each of W processes
    ``ceil(N / W)`` samples; if that leaves one clip for the last batch,
    SeCo's BatchNorm over pooled per-clip features sees one value per
    channel and fails ("Expected more than 1 value per channel when
    training") at the end of the first epoch, after the whole epoch was
    computed. Rejected up front (rather than silently dropped) so the
    config says what is trained. Only for ``model.type='SeCo'``: a
    recognizer's BatchNorm sees ``segments x frames`` images per clip, so a
    last batch of one clip trains fine there.

    Raises:
        ConfigError: naming ``train_dataloader.drop_last`` and
            ``train_dataloader.batch_size``.
    """
    loader = cfg.get('train_dataloader') or {}
    batch = loader.get('batch_size', 1)
    if _get(cfg, 'model.type') != 'SeCo' or loader.get(
            'drop_last', False) or not _is_int(batch) or batch < 2:
        return
    per_rank = -(-dataset_len // _world_size())  # the sampler pads
    if per_rank % batch == 1:
        where = _samples_per_process(per_rank, dataset_len)
        raise ConfigError(
            'train_dataloader.drop_last', False,
            f'with train_dataloader.batch_size={batch} and {where} leaves a '
            'last batch of 1 sample, on which BatchNorm fails at the end of '
            'the epoch; set train_dataloader.drop_last=True (drops that '
            'sample each epoch) or change train_dataloader.batch_size')


def _annotation_lines(ann_file: str, count: int):
    """1-based line numbers of the non-blank lines of ``ann_file``, if it
    is a text list with exactly ``count`` of them (one entry per line)."""
    try:
        with open(ann_file, 'rb') as f:
            lines = f.read().splitlines()
    except (OSError, TypeError):
        return None
    numbers = [i for i, line in enumerate(lines, start=1) if line.strip()]
    return numbers if len(numbers) == count else None


def check_labels_fit_head(cfg, dataset) -> None:
    """Every training label must be in ``[0, model.cls_head.num_classes)``.

    PyTorch's cross-entropy fails on the first batch that holds such a
    label, mid-epoch and without naming the file. Checked on the built
    dataset's ``data_list`` (``label``: int or list of ints); nothing is
    checked when the model has no ``cls_head.num_classes`` (SeCo
    pretraining ignores labels).

    Raises:
        AnnotationError: ``ann_file:line: label L is outside ...`` for the
            first bad entry, with the number of bad entries.
    """
    from ..datasets import AnnotationError
    num_classes = _get(cfg, 'model.cls_head.num_classes')
    if not _is_int(num_classes):
        return
    while hasattr(dataset, 'dataset'):  # Repeat/ClassBalanced wrappers
        dataset = dataset.dataset
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    entries = [dataset.get_data_info(i) for i in range(len(dataset))]
    bad = []
    for index, info in enumerate(entries):
        labels = info.get('label')
        if labels is None:
            continue
        values = np.asarray(labels).reshape(-1).tolist()
        wrong = [x for x in values if not 0 <= int(x) < num_classes]
        if wrong:
            bad.append((index, wrong[0], info))
    if not bad:
        return
    ann_file = getattr(dataset, 'ann_file', '') or '<dataset>'
    numbers = _annotation_lines(ann_file, len(entries))
    index, label, info = bad[0]
    lineno = numbers[index] if numbers else index + 1
    where = '' if numbers else f' (entry {index + 1} of the data list)'
    name = info.get('filename') or info.get('frame_dir') or ''
    raise AnnotationError(
        ann_file, lineno,
        f'{name} has label {label}, outside the '
        f'{num_classes} classes of model.cls_head.num_classes (valid: 0 to '
        f'{num_classes - 1}){where}; {len(bad)} of {len(entries)} entries '
        'have such labels: fix the list or num_classes')


def check_train_dataset(cfg) -> int:
    """Build the training set once and run the checks that need it:
    :func:`check_batch_fits_dataset`, :func:`check_last_batch` and
    :func:`check_labels_fit_head`.

    Returns:
        int: the number of training samples (0 without a train loader).
    """
    loader = cfg.get('train_dataloader')
    if not loader or not loader.get('dataset'):
        return 0
    dataset = _build_train_dataset(cfg)
    dataset_len = len(dataset)
    check_batch_fits_dataset(cfg, dataset_len)
    check_last_batch(cfg, dataset_len)
    check_labels_fit_head(cfg, dataset)
    return dataset_len
