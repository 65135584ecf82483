"""Workarounds for upstream packaging defects of the pinned stack.

This is the only place where seco-mm works around bugs in its dependencies.
It must be imported before anything from ``mmaction.models`` (``seco_mm``
imports it first). Each fix names the defect it handles; none edits
site-packages. See docs/upstream_defects.md and README "Pinned stack".

Defects handled:

1. mmaction2 1.2.0 (PyPI wheel and sdist) lacks ``mmaction/models/localizers/drn``
   while ``localizers/__init__.py`` imports ``from .drn.drn import DRN``, so
   ``import mmaction.models`` raises ``ModuleNotFoundError``. A failed import
   cannot be retried (half-registered modules raise "already registered"), so
   we install a placeholder module *before* the first import. The placeholder
   ``DRN`` is not registered and raises if constructed.
2. mmaction2 1.2.0 imports ``importlib_metadata`` without declaring it. It is
   pinned in requirements.txt; :func:`check_importlib_metadata` turns a
   missing install into a clear message instead of a deep traceback.
3. torch >= 2.6 defaults ``torch.load(weights_only=True)``. mmengine 0.10.7
   checkpoints hold ``HistoryBuffer`` objects and numpy scalars/arrays in
   ``message_hub`` and ``meta``, so ``Runner(resume=True)`` and
   ``load_checkpoint`` fail with ``UnpicklingError``. We allow-list exactly
   those types with ``torch.serialization.add_safe_globals`` (the narrow fix;
   arbitrary pickles stay refused). ``HistoryBuffer`` also pickles its
   statistics methods as ``getattr(HistoryBuffer, 'min')``; instead of
   allowing ``getattr`` (which would defeat ``weights_only``) we register, under
   that name, a stand-in that resolves only those methods. The allow-list is
   used by :mod:`seco_mm.engine.safe_load`, through which every checkpoint
   read goes: it passes ``weights_only=True`` explicitly (so
   ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot switch it off) and replaces
   mmengine's URL loaders, which unpickle remote files
   (``torch.hub.load_state_dict_from_url`` defaults to
   ``weights_only=False``); see docs/checkpoints.md.
4. mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and its DDP
   wrapper passes ``device_ids=[LOCAL_RANK]``; both fail on a CPU-only torch.
   :func:`setup_distributed` initialises a gloo process group itself (mmengine
   then skips its own init) and sets ``device_ids=None``. On CUDA it does
   nothing, so mmengine's NCCL path is used unchanged. Neither mmengine nor
   torch destroys the process group at exit; a gloo group left to
   interpreter shutdown sometimes aborted a finished rank, so the tools
   call :func:`teardown_distributed` last.
5. mmengine 0.10.7 resolves ``mmaction::`` base configs through
   ``pkg_resources``, which setuptools >= 81 no longer ships. requirements.txt
   pins setuptools 80.9.0; :func:`check_pkg_resources` says so clearly.
6. numpy 2 removed names that mmaction2 1.2.0 still calls (numpy 2.4 is
   pinned here): ``np.Inf`` (``PoseCompact``, ``MMCompact``,
   ``mmaction.utils.frame_extract(short_side=...)``), ``np.NAN``
   (``AVAMetric``'s average precision), ``np.trapz`` (``ANetMetric`` AR@AN)
   and ``np.in1d`` (``RetrievalRecall``). :func:`alias_removed_numpy_names`
   adds exactly these four names to numpy, each only if missing, bound to
   their numpy 2 equivalents (``inf``, ``nan``, ``trapezoid``, ``isin`` on
   the flattened input); nothing else in numpy is touched.
7. mmaction2 1.2.0's ``VisualizationHook`` (``tools/test.py --show-dir``)
   fails on the first batch: it passes ``show=`` where
   ``ActionVisualizer.add_datasample`` takes ``show_frames``; it also reads
   2D-recognizer inputs as ``(C, T, H, W)`` and its visualizer looks for
   label fields the 1.2 data samples do not have. :func:`visualization_hook_type`
   registers a subclass fixing these three; ``tools/test.py`` uses it.
8. mmaction2 1.2.0's ``BaseHead.loss_by_feat`` computes top-k accuracy via
   ``cls_scores.detach().cpu().numpy()``; numpy has no bfloat16, so every
   recognizer fine-tuned under CPU bf16 autocast (``--amp``) raises
   ``TypeError: Got unsupported ScalarType BFloat16``.
   :func:`patch_head_loss_bf16` casts bf16 scores to float32 before the
   original method runs (the loss is then computed in float32 as well,
   which is what autocast would do for a cross-entropy anyway).
"""
import importlib
import os
import os.path as osp
import sys
import types

__all__ = [
    'patch_missing_drn', 'check_importlib_metadata', 'check_pkg_resources',
    'allow_mmengine_pickles',
    'setup_distributed', 'teardown_distributed', 'apply_all'
]

_DRN_MODULES = ('mmaction.models.localizers.drn',
                'mmaction.models.localizers.drn.drn')


class _MissingDRN:
    """Stands in for mmaction2's DRN localizer, which the wheel does not ship."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            'mmaction2 1.2.0 from PyPI does not ship mmaction.models.localizers'
            '.drn; DRN is unavailable (seco_mm.compat defect 1).')


def patch_missing_drn() -> bool:
    """Install placeholder ``drn`` modules if the mmaction2 install lacks them.

    Returns:
        bool: True if placeholders were installed, False if not needed.
    """
    if 'mmaction.models' in sys.modules:
        return False  # too late to help, or already imported successfully
    spec = importlib.util.find_spec('mmaction')
    if spec is None or spec.origin is None:
        return False
    drn_dir = osp.join(osp.dirname(spec.origin), 'models', 'localizers', 'drn')
    if osp.isdir(drn_dir):
        return False
    for name in _DRN_MODULES:
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = []  # behave as a package for the submodule
            module.DRN = _MissingDRN
            module.__doc__ = 'Placeholder installed by seco_mm.compat (defect 1).'
            sys.modules[name] = module
    sys.modules[_DRN_MODULES[0]].drn = sys.modules[_DRN_MODULES[1]]
    return True


def check_importlib_metadata() -> None:
    """Fail with an actionable message if ``importlib_metadata`` is missing."""
    try:
        import importlib_metadata  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            'mmaction2 1.2.0 needs the undeclared package importlib_metadata; '
            'run `pip install -r requirements.txt` (seco_mm.compat defect 2).'
        ) from err


def check_pkg_resources() -> None:
    """Fail with an actionable message if ``pkg_resources`` is missing."""
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import pkg_resources  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            'mmengine 0.10.7 needs pkg_resources to read mmaction:: configs; '
            'install setuptools<81 (`pip install -r requirements.txt`; '
            'seco_mm.compat defect 5).') from err


def _history_buffer_getattr(obj, name):
    """``getattr`` restricted to HistoryBuffer's statistics methods."""
    import pickle

    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean',
                                         *HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); seco_mm.compat only '
        'allows HistoryBuffer statistics methods (defect 3)')


def allow_mmengine_pickles() -> list:
    """Allow-list the types mmengine writes into checkpoints for torch.load.

    Returns:
        list: the types registered (empty on torch without safe globals).
    """
    import numpy as np
    import torch
    from mmengine.logging.history_buffer import HistoryBuffer

    if not hasattr(torch.serialization, 'add_safe_globals'):
        return []
    import codecs
    safe = [HistoryBuffer, np.ndarray, np.dtype, codecs.encode,
            (_history_buffer_getattr, 'builtins.getattr')]
    # numpy pickles arrays via its reconstruct helper; the module moved in 2.0
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        safe += [mod._reconstruct, mod.scalar]
        break
    # dtype classes (np.dtypes.Float64DType, ...) are pickled by class
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    torch.serialization.add_safe_globals(safe)
    return safe


def setup_distributed(cfg, launcher: str) -> None:
    """Prepare ``cfg`` and the process group for a CPU-only distributed run.

    On CUDA machines this is a no-op: mmengine's own NCCL initialisation runs.
    On CPU it initialises gloo from torchrun's environment variables and makes
    mmengine's DDP wrapper omit ``device_ids``.
    """
    import torch
    import torch.distributed as dist

    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ValueError(f'CPU distributed training supports launcher='
                         f"'pytorch' (torchrun) only, got {launcher!r}")
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    os.environ.setdefault('LOCAL_RANK', '0')


def teardown_distributed() -> None:
    """Wait for every rank, then destroy the default process group, if
    any, before the interpreter exits (the tools call it last).

    Without it a rank that finished first (rank 1 while rank 0 still wrote
    the last checkpoint) sometimes aborted at exit with "terminate called
    without an active exception" (SIGABRT), and torchrun reported the run
    as failed: 2 of 8 two-process CPU runs here, 0 of 16 with the barrier
    and the explicit destroy.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        try:  # every rank reaches the end (rank 0 may still be saving)
            dist.barrier()
        finally:
            dist.destroy_process_group()


def apply_all() -> None:
    """Apply the import-time fixes and checks (defects 1-3, 5, 6, 8)."""
    patch_missing_drn()
    check_importlib_metadata()
    check_pkg_resources()
    allow_mmengine_pickles()
    alias_removed_numpy_names()
    patch_head_loss_bf16()


# --- defect 6: numpy 2 names mmaction2 1.2.0 still uses ---------------------
__all__ += ['alias_removed_numpy_names']


def _in1d(ar1, ar2, assume_unique=False, invert=False, **kwargs):
    """numpy 1's ``in1d``: ``isin`` on the flattened first array (1-D out)."""
    import numpy as np
    return np.isin(np.asarray(ar1).ravel(), ar2, assume_unique=assume_unique,
                   invert=invert, **kwargs)


def alias_removed_numpy_names() -> dict:
    """Give numpy back ``Inf``, ``NAN``, ``trapz`` and ``in1d`` if missing.

    Returns:
        dict: the names added, ``{name: value}`` (empty on numpy 1, or when
        another package already restored them).
    """
    import numpy as np
    aliases = dict(Inf=np.inf, NAN=np.nan,
                   trapz=getattr(np, 'trapezoid', None), in1d=_in1d)
    added = {}
    for name, value in aliases.items():
        if value is not None and name not in np.__dict__:
            setattr(np, name, value)
            added[name] = value
    return added


# --- defect 7: mmaction2 1.2.0's VisualizationHook cannot draw --------------
__all__ += ['visualization_hook_type']


def _frames_for_drawing(video, data_sample):
    """(T, H, W, 3) uint8 frames from one packed input: ``NCHW`` inputs are
    ``(N, C, H, W)``, ``NCTHW`` ones ``(N, C, T, H, W)`` (first clip)."""
    shape = data_sample.get('format_shape', None) if hasattr(
        data_sample, 'get') else None
    if video.dim() == 5:  # clips: take the first
        video = video[0]
    if video.dim() == 4 and (shape == 'NCHW' or video.shape[1] == 3
                             and video.shape[0] != 3):
        video = video.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    else:
        video = video.permute(1, 2, 3, 0)  # (C, T, H, W) -> (T, H, W, C)
    return video.cpu().numpy().astype('uint8')


def _with_label_fields(data_sample):
    """A copy of an ``ActionDataSample`` with the ``gt_labels`` /
    ``pred_labels`` fields ActionVisualizer 1.2.0 reads (the data sample has
    ``gt_label`` / ``pred_label`` / ``pred_score``)."""
    import torch
    from mmengine.structures import LabelData
    sample = data_sample.clone()
    if 'gt_label' in sample:
        sample.gt_labels = torch.as_tensor(sample.gt_label).reshape(-1)
    if 'pred_label' in sample:
        pred = LabelData(item=torch.as_tensor(sample.pred_label).reshape(-1))
        if 'pred_score' in sample:
            pred.score = torch.as_tensor(sample.pred_score)
        sample.pred_labels = pred
    return sample


def visualization_hook_type() -> str:
    """Register (once) and name a fixed mmaction2 ``VisualizationHook``.

    mmaction2 1.2.0's hook passes ``show=`` to ``ActionVisualizer.
    add_datasample``, which takes ``show_frames`` (TypeError on the first
    test batch); it reads every input as ``(C, T, H, W)``, which scrambles
    2D-recognizer (``NCHW``) inputs; and the visualizer looks for
    ``gt_labels``/``pred_labels``, which mmaction2 1.2's data samples do not
    have, so no label would be drawn. The subclass fixes exactly these three
    and is otherwise mmaction2's hook (interval, out_dir, backends).
    """
    import math
    import os.path as osp

    from mmaction.engine.hooks import VisualizationHook
    from mmaction.registry import HOOKS
    name = 'SeCoFixedVisualizationHook'
    if HOOKS.get(name) is not None:
        return name

    class SeCoFixedVisualizationHook(VisualizationHook):
        __doc__ = visualization_hook_type.__doc__

        def _draw_samples(self, batch_idx, data_batch, data_samples,
                          step=0):
            if self.enable is False:
                return
            args = dict(self.draw_args)
            args['show_frames'] = args.pop('show', False)
            start = len(data_samples) * batch_idx
            first = math.ceil(start / self.interval) * self.interval
            for idx in range(first, start + len(data_samples),
                             self.interval):
                sample = data_samples[idx - start]
                video = _frames_for_drawing(
                    data_batch['inputs'][idx - start], sample)
                name = osp.basename(sample.get('filename', None) or
                                    sample.get('frame_dir', None) or
                                    str(idx))
                if self.out_dir is not None:
                    args['out_path'] = osp.join(self.out_dir,
                                                f'{name}_{step}')
                self._visualizer.add_datasample(
                    name, video=video, data_sample=_with_label_fields(sample),
                    step=step, **args)

    HOOKS.register_module(name=name, module=SeCoFixedVisualizationHook)
    return name


# --- defect 8: mmaction2 heads turn bf16 scores into numpy -------------------
__all__ += ['patch_head_loss_bf16']


def patch_head_loss_bf16() -> bool:
    """Make ``BaseHead.loss_by_feat`` accept bf16 class scores (defect 8).

    Returns:
        bool: True if the wrapper was installed now, False if already there.
    """
    import torch
    from mmaction.models.heads.base import BaseHead

    original = BaseHead.loss_by_feat
    if getattr(original, '_seco_bf16_safe', False):
        return False

    def loss_by_feat(self, cls_scores, data_samples):
        if torch.is_tensor(cls_scores) and cls_scores.dtype == torch.bfloat16:
            cls_scores = cls_scores.float()
        return original(self, cls_scores, data_samples)

    loss_by_feat.__doc__ = original.__doc__
    loss_by_feat._seco_bf16_safe = True
    BaseHead.loss_by_feat = loss_by_feat
    return True
