"""MoCo's shuffling BN across processes for the key encoder.

Under DDP each process normalises its own key batch. If a query and its
positive key sat in the same BN batch, the model could exploit BN statistics
("cheat"); shuffling the keys across processes before the key encoder and
un-shuffling after removes that link. With one process these are identity
functions: a permutation inside one batch does not change BN statistics.
One process emulates devices with split BN instead (``split_batch_norm``):
:func:`split_shuffle_indices` is the shuffle across its groups.
"""
from typing import Optional, Tuple

import torch
from mmengine.dist import all_gather, broadcast, get_rank, get_world_size

__all__ = ['batch_shuffle_ddp', 'batch_unshuffle_ddp', 'split_shuffle_indices']


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


@torch.no_grad()
def split_shuffle_indices(query_group: torch.Tensor, groups: int,
                          generator: Optional[torch.Generator] = None
                          ) -> torch.Tensor:
    """A shuffle of keys across split-BN groups that mixes every group.

    Split BN puts position ``p`` of a batch in group ``p % groups``. Given
    each key's query group, this returns ``perm`` (``shuffled = keys[perm]``)
    such that every key group holds keys of several query groups, so no key
    is normalised with exactly the samples that normalise its query. MoCo's
    single-GPU demo uses a uniform ``randperm``, which with small groups
    often leaves a key group equal to a query group (for 2 samples per group
    and 8 samples, 1 key in 7); here the members of each query group are
    randomly ordered, then dealt out round-robin over the key groups.

    Args:
        query_group: (N,) long, the BN group of each key's query; ``N`` is
            divisible by ``groups`` and each query group has N / groups keys.
        groups: G >= 2.
    Returns:
        (N,) long permutation; ``torch.argsort(perm)`` undoes it.
    """
    n = query_group.numel()
    per_group = n // groups
    # rows: the keys of each query group, in random order (G, N / G)
    members = torch.argsort(query_group * n + torch.randperm(
        n, generator=generator).to(query_group.device)).view(groups, -1)
    # deal column by column: consecutive entries come from different query
    # groups; chunk h of that list becomes key group h
    dealt = members.t().reshape(groups, per_group)
    # position p = i * G + h holds chunk h's i-th key
    return dealt.t().reshape(-1)
