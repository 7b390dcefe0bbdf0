"""Shared inputs, tolerances and reference loops for the loss tests."""

from __future__ import annotations

import math

import torch

RTOL = 1e-5


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, requires_grad: bool = False) -> torch.Tensor:
    x = torch.randn(*shape, generator=gen(seed), dtype=torch.float64)
    return x.requires_grad_(requires_grad)


def close(a: torch.Tensor, b: torch.Tensor | float) -> None:
    b = torch.as_tensor(b, dtype=a.dtype)
    torch.testing.assert_close(a.detach(), b.detach(), rtol=RTOL, atol=1e-10)


def assert_finite_grads(*xs: torch.Tensor) -> None:
    for x in xs:
        assert x.grad is not None
        assert torch.isfinite(x.grad).all()
        assert x.grad.abs().sum() > 0


def ref_supcon_loop(z: torch.Tensor, ids: torch.Tensor, t: float) -> float:
    """Khosla et al. L_out written out with Python loops, as an independent reference."""
    zn = [v / math.sqrt(float(v @ v)) for v in z]
    losses = []
    for i in range(len(zn)):
        pos = [p for p in range(len(zn)) if p != i and ids[p] == ids[i]]
        if not pos:
            continue
        denom = sum(math.exp(float(zn[i] @ zn[a]) / t) for a in range(len(zn)) if a != i)
        losses.append(
            -sum(math.log(math.exp(float(zn[i] @ zn[p]) / t) / denom) for p in pos) / len(pos)
        )
    return sum(losses) / len(losses)
