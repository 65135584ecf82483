"""MoCo's shuffling BN across processes for the key encoder.

Under DDP each process normalises its own key batch. If a query and its
positive key sat in the same BN batch, the model could exploit BN statistics
("cheat"); shuffling the keys across processes before the key encoder and
un-shuffling after removes that link. With one process these are identity
functions: a permutation inside one batch does not change BN statistics.
"""
from typing import Optional, Tuple

import torch
from mmengine.dist import all_gather, broadcast, get_rank, get_world_size

__all__ = ['batch_shuffle_ddp', 'batch_unshuffle_ddp']


@torch.no_grad()
def batch_shuffle_ddp(x: torch.Tensor
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Give each process a random slice of the global key batch.

    Args:
        x: (N, ...) this process's keys (N equal on every process).
    Returns:
        (x_shuffled (N, ...), idx_unshuffle (world*N,) or None if 1 process)
    """
    world = get_world_size()
    if world == 1:
        return x, None
    x_all = torch.cat(all_gather(x))
    idx_shuffle = torch.randperm(x_all.shape[0], device=x.device)
    broadcast(idx_shuffle, 0)
    idx_unshuffle = torch.argsort(idx_shuffle)
    mine = idx_shuffle.view(world, -1)[get_rank()]
    return x_all[mine], idx_unshuffle


@torch.no_grad()
def batch_unshuffle_ddp(x: torch.Tensor,
                        idx_unshuffle: Optional[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`batch_shuffle_ddp` for the encoder's output (N, ...)."""
    if idx_unshuffle is None:
        return x
    world = get_world_size()
    x_all = torch.cat(all_gather(x))
    mine = idx_unshuffle.view(world, -1)[get_rank()]
    return x_all[mine]
