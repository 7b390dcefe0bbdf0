"""Collectives that degrade to identities without a process group.

Ray Train (or torchrun) initialises ``torch.distributed``; a single-process run does
not, and every function here then returns its input unchanged, so methods and the
evaluation code never branch on "am I distributed?".
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x [n, ...]`` from every rank along dim 0, keeping gradients.

    Each rank gets ``[world * n, ...]`` in rank order. The backward pass sums the
    gradients every rank computed for this rank's slice (torch.distributed.nn's
    all_gather), so when each rank evaluates the same global-batch loss, DDP's gradient
    averaging yields exactly the gradient of that loss: the contrastive loss sees the
    global batch as its negatives. All ranks must pass the same ``n``.
    """
    if not is_distributed():
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def gather_no_grad(x: Tensor) -> Tensor:
    """Concatenate ``x [n_r, ...]`` from every rank (sizes may differ), without gradients."""
    if not is_distributed():
        return x
    size = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    max_n = int(max(s.item() for s in sizes))
    padded = torch.zeros((max_n, *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[: x.shape[0]] = x
    chunks = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(chunks, padded.contiguous())
    return torch.cat([c[: int(s.item())] for c, s in zip(chunks, sizes)], dim=0)


def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of ``x`` over ranks (no gradient); identity without a process group."""
    if not is_distributed():
        return x
    y = x.detach().clone()
    dist.all_reduce(y)
    return y / world_size()


def broadcast_object(obj: object, src: int = 0) -> object:
    """Rank ``src``'s object on every rank."""
    if not is_distributed():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


@torch.no_grad()
def sync_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BN running statistics, queues, step counters) to every rank.

    DDP keeps parameters identical, but each rank updates its BN running statistics from
    its own shard after DDP's per-forward broadcast, so without this the ranks would
    evaluate slightly different models than the checkpoint rank 0 writes.
    """
    if not is_distributed():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=src)
