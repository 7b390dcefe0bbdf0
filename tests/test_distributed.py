"""Contrastive losses see the global batch: two gloo processes give the single-process gradient.

Real processes and a real process group (gloo on the CPU), as Ray Train sets one up.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ssl_core.distributed import gather_no_grad, gather_with_grad, world_size
from ssl_core.losses import contrastive_loss
from tests.loopback import free_loopback_port

N, D_IN, D_OUT, WORLD, T = 8, 6, 5, 2, 0.3


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(D_OUT, D_IN, generator=g, dtype=torch.float64)
    view1 = torch.randn(WORLD * N, D_IN, generator=g, dtype=torch.float64)
    view2 = view1 + 0.1 * torch.randn(WORLD * N, D_IN, generator=g, dtype=torch.float64)
    return weight, view1, view2


def _global_loss_grad() -> torch.Tensor:
    """The reference: one process, the whole batch."""
    weight, v1, v2 = _data()
    weight.requires_grad_(True)
    z = torch.cat([v1 @ weight.t(), v2 @ weight.t()])
    ids = torch.arange(WORLD * N).repeat(2)
    contrastive_loss(z, ids, T).backward()
    return weight.grad



def _worker(rank: int, port: int, out_dir: str) -> None:
    # Loopback only: the process group never listens on a public address.
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        weight, v1, v2 = _data()
        weight.requires_grad_(True)
        mine = slice(rank * N, (rank + 1) * N)
        # What SimCLR does on each rank: embed the local shard, gather with gradients.
        z = torch.cat([gather_with_grad(v1[mine] @ weight.t()), gather_with_grad(v2[mine] @ weight.t())])
        local_ids = torch.arange(N) + rank * N
        ids = torch.cat([gather_with_grad(local_ids), gather_with_grad(local_ids)])
        contrastive_loss(z, ids, T).backward()
        grad = weight.grad.clone()
        dist.all_reduce(grad)  # what DDP does: average the gradients over ranks
        grad /= WORLD
        ragged = gather_no_grad(torch.full((rank + 1, 2), float(rank)))  # shards of unequal size
        torch.save({"grad": grad, "world": world_size(), "ragged": ragged}, os.path.join(out_dir, f"{rank}.pt"))
        dist.barrier()  # no rank tears gloo down while another still talks to it
    finally:
        dist.destroy_process_group()


def test_gathered_contrastive_gradient_equals_single_process(tmp_path) -> None:
    mp.spawn(_worker, args=(free_loopback_port(), str(tmp_path)), nprocs=WORLD, join=True)
    reference = _global_loss_grad()
    for rank in range(WORLD):
        out = torch.load(tmp_path / f"{rank}.pt", weights_only=True)
        assert out["world"] == WORLD
        torch.testing.assert_close(out["grad"], reference, rtol=1e-10, atol=1e-12)
        assert out["ragged"].tolist() == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]


def test_without_a_process_group_collectives_are_identities() -> None:
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x and gather_no_grad(x) is x and world_size() == 1
    with pytest.raises(ValueError):
        contrastive_loss(torch.randn(4, 3), torch.arange(4), 0.1)  # no positives: refused, not NaN
