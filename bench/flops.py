"""Model FLOP utilisation: FLOPs of one training step, and the device's measured matmul peak.

MFU (Chowdhery et al. 2022, PaLM, appendix B) = model FLOPs per second achieved / the peak the
hardware reaches. Here both sides are measured, not taken from a data sheet:

* ``step_flops``: the FLOPs of one optimiser step (forward + backward of every view through
  the method), counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and
  convolutions, the only FLOPs that matter for a ResNet; the optimiser's elementwise update and
  the front end are not counted, so MFU is the *model's* utilisation);
* ``matmul_peak``: FLOP/s of a large square matmul in the step's compute dtype (bfloat16 under
  autocast, float32 otherwise) on the same device, best of a few runs: the "peak" is what
  this device's BLAS delivers, usually 70-90 % of the data-sheet figure.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def step_flops(step: Callable[[], object]) -> int:
    """FLOPs (multiply-add = 2) of the matmuls and convolutions run by ``step()``, once."""
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return int(counter.get_total_flops())


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int | None = None, repeats: int = 5) -> float:
    """Best FLOP/s of ``[n, n] @ [n, n]`` in ``dtype`` on ``device`` (n: 8192 on GPUs, 2048 on CPUs)."""
    n = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    inner = 10 if device.type == "cuda" else 1  # GPU matmuls are short: time several per sample

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    torch.matmul(a, b, out=out)  # warm-up: library initialisation, kernel choice
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            torch.matmul(a, b, out=out)
        sync()
        best = min(best, (time.perf_counter() - start) / inner)
    return 2 * n**3 / best
