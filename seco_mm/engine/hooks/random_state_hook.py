"""Save and restore the random generators with the checkpoint."""
import random

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

from ..mmengine_internals import resume_request

__all__ = ['SeCoRandomStateHook', 'get_random_state', 'set_random_state']


def get_random_state() -> dict:
    """Python, numpy (global) and torch (CPU, CUDA) generator states.

    Only plain types and tensors, so ``torch.load(weights_only=True)`` can
    read them back.
    """
    np_state = np.random.get_state(legacy=False)
    state = dict(
        python=random.getstate(),
        numpy=dict(bit_generator=np_state['bit_generator'],
                   key=torch.from_numpy(
                       np_state['state']['key'].astype(np.int64)),
                   pos=int(np_state['state']['pos']),
                   has_gauss=int(np_state['has_gauss']),
                   gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict) -> None:
    """Inverse of :func:`get_random_state`."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    npst = state['numpy']
    np.random.set_state(dict(
        bit_generator=npst['bit_generator'],
        state=dict(key=npst['key'].numpy().astype(np.uint32),
                   pos=npst['pos']),
        has_gauss=npst['has_gauss'], gauss=npst['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class SeCoRandomStateHook(Hook):
    """Checkpoint the random generators so ``--resume`` continues exactly.

    mmengine reseeds from ``randomness.seed`` at start but does not save the
    generators, so a resumed run draws other augmentations than the
    uninterrupted one whenever they are drawn in the main process
    (``num_workers=0``; with workers, mmengine's ``worker_init_fn`` reseeds
    each worker from the seed every epoch unless ``persistent_workers``).
    Saved under ``checkpoint['rng_state']``; restored only on resume (not
    for ``load_from``). Under DDP, rank 0's state is the one saved.
    """

    priority = 'LOW'
    CKPT_KEY = 'rng_state'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[self.CKPT_KEY] = get_random_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.CKPT_KEY in checkpoint and resume_request(runner)[0]:
            set_random_state(checkpoint[self.CKPT_KEY])
