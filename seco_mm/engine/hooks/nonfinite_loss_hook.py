"""Catch a NaN/Inf loss before it reaches the weights; stop or skip."""
from typing import Dict, Optional

import torch
from mmaction.registry import HOOKS
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop

__all__ = ['SeCoNonFiniteLossHook', 'NonFiniteLossError']


class NonFiniteLossError(FloatingPointError):
    """A loss term was NaN or infinite; the optimizer step was not taken."""


def nonfinite_terms(losses: Dict) -> Dict[str, str]:
    """Names of the loss terms (keys containing 'loss') that are not finite.

    Args:
        losses: the model's loss dict; values are tensors or lists of
            tensors, as accepted by ``BaseModel.parse_losses``.
    Returns:
        dict: ``name -> short description`` (e.g. ``'nan'``, ``'inf'`` or
        ``'3 of 8 elements non-finite'``) for every non-finite term.
    """
    bad = {}
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        tensors = value if isinstance(value, (list, tuple)) else [value]
        flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
        finite = torch.isfinite(flat)
        if bool(finite.all()):
            continue
        if flat.numel() == 1:
            bad[name] = str(float(flat[0]))
        else:
            bad[name] = (f'{int((~finite).sum())} of {flat.numel()} elements '
                         'non-finite')
    return bad


@HOOKS.register_module()
class SeCoNonFiniteLossHook(Hook):
    """Check every loss term before backward; stop (default) or skip.

    mmengine's ``train_step`` computes the losses, sums them in the model's
    ``parse_losses`` and hands the sum to ``optim_wrapper.update_params``
    (backward + step). This hook wraps those two methods on the running
    model and optimizer wrapper (from ``before_train`` to ``after_train``):

    - ``parse_losses``: finds non-finite terms by name (under DDP the
      verdict is summed over ranks, so all ranks act together);
    - ``action='stop'``: raises :class:`NonFiniteLossError` naming the
      iteration and the terms, before backward: no NaN reaches the weights,
      the optimizer state or a checkpoint;
    - ``action='skip'``: drops backward and step for this iteration, puts
      back every model buffer (queue, queue pointer, BN statistics) as it
      was before the forward pass, logs a warning and counts
      ``train/skipped_steps``; more than ``max_consecutive_skips`` skips in
      a row raise :class:`NonFiniteLossError`. The buffer snapshot costs one
      copy of the buffers per iteration (the queue dominates: 64 MB at
      131072 x 128), so it is only taken in this mode.

    Args:
        action (str): ``'stop'`` or ``'skip'``.
        max_consecutive_skips (int): in skip mode, how many non-finite
            iterations in a row are tolerated.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'stop', max_consecutive_skips: int = 10):
        if action not in ('stop', 'skip'):
            raise ValueError("SeCoNonFiniteLossHook.action must be 'stop' or "
                             f"'skip', got {action!r}")
        if not isinstance(max_consecutive_skips, int) or \
                max_consecutive_skips < 1:
            raise ValueError('SeCoNonFiniteLossHook.max_consecutive_skips '
                             f'must be a positive int, got '
                             f'{max_consecutive_skips!r}')
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.num_skipped = 0
        self._consecutive = 0
        self._skip_pending = False
        self._batch_idx = 0
        self._snapshot: Optional[list] = None
        self._runner = None
        self._model = None
        self._optim_wrapper = None
        self._parse_losses = None  # the wrapped (original) bound methods
        self._update_params = None

    # ---- installation ----------------------------------------------------
    def before_train(self, runner) -> None:
        self._runner = runner
        self._model = (runner.model.module if is_model_wrapper(runner.model)
                       else runner.model)
        self._optim_wrapper = runner.optim_wrapper
        # Instance attributes shadow the class methods until after_train.
        # A run that raised never reached after_train: unwrap first.
        self._uninstall()
        self._parse_losses = self._model.parse_losses
        self._update_params = self._optim_wrapper.update_params
        self._model.parse_losses = self._guarded_parse_losses
        self._optim_wrapper.update_params = self._guarded_update_params

    def after_train(self, runner) -> None:
        self._uninstall()

    def _uninstall(self) -> None:
        for obj, name, orig in (
                (self._model, 'parse_losses', self._parse_losses),
                (self._optim_wrapper, 'update_params', self._update_params)):
            current = vars(obj).get(name) if obj is not None else None
            if current is not None and getattr(current, '__self__',
                                               None) is self:
                if orig is not None and getattr(orig, '__self__',
                                                None) is obj:
                    delattr(obj, name)  # the class method shows again
                else:
                    setattr(obj, name, orig)  # an outer wrapper of others

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._batch_idx = batch_idx
        if self.action == 'skip':
            self._snapshot = [b.detach().clone()
                              for b in self._model.buffers()]

    # ---- wrapped methods -------------------------------------------------
    def _guarded_parse_losses(self, losses: Dict):
        bad = nonfinite_terms(losses)
        if get_world_size() > 1:
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag)
            if flag.item() > 0 and not bad:
                bad = {'(another rank)': 'non-finite'}
        loss, log_vars = self._parse_losses(losses)
        if not bad:
            self._consecutive = 0
            return loss, log_vars
        msg = self._describe(bad)
        if self.action == 'stop':
            msg += ('; the optimizer step was not taken, stopping (set '
                    "SeCoNonFiniteLossHook action='skip' to skip such "
                    'steps).' + self._last_checkpoint_note())
            self._runner.logger.error(msg)
            raise NonFiniteLossError(msg)
        self._consecutive += 1
        if self._consecutive > self.max_consecutive_skips:
            msg += (f'; {self._consecutive} non-finite iterations in a row '
                    f'(max_consecutive_skips={self.max_consecutive_skips}), '
                    'stopping.' + self._last_checkpoint_note())
            self._runner.logger.error(msg)
            raise NonFiniteLossError(msg)
        self.num_skipped += 1
        self._skip_pending = True
        self._runner.logger.warning(msg + '; skipping this step (weights, '
                                    'optimizer and buffers unchanged).')
        # keep finite entries only, so smoothed log values stay readable
        log_vars = type(log_vars)(
            (k, v) for k, v in log_vars.items()
            if bool(torch.isfinite(torch.as_tensor(v)).all()))
        log_vars['skipped_steps'] = torch.tensor(float(self.num_skipped))
        return loss, log_vars

    def _guarded_update_params(self, loss, step_kwargs=None,
                               zero_kwargs=None, **kwargs):
        ow = self._optim_wrapper
        if not self._skip_pending:
            return self._update_params(loss, step_kwargs=step_kwargs,
                                       zero_kwargs=zero_kwargs, **kwargs)
        self._skip_pending = False
        # Count the skipped step as the wrapper counts every backward (keeps
        # the gradient-accumulation phase aligned), through its public
        # backward on a zero leaf that has no path to any weight.
        ow.backward(torch.zeros((), requires_grad=True))
        ow.zero_grad()
        if self._snapshot is not None:
            with torch.no_grad():
                for buf, saved in zip(self._model.buffers(), self._snapshot):
                    buf.copy_(saved)

    # ---- messages --------------------------------------------------------
    def _describe(self, bad: Dict[str, str]) -> str:
        runner = self._runner
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        where = f'iteration {runner.iter + 1}'
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            where += (f' (epoch {runner.epoch + 1}, '
                      f'batch {self._batch_idx + 1})')
        return f'non-finite loss at {where}: {terms}'

    def _last_checkpoint_note(self) -> str:
        info = self._runner.message_hub.runtime_info
        last = info.get('last_ckpt')
        return (f' Last checkpoint: {last}.' if last else
                ' No checkpoint was saved in this run yet.')
