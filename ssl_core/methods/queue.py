"""MoCo's queue of negative keys: a ring buffer with an explicit ``update()``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KeyQueue(nn.Module):
    """``size`` L2-normalised keys of width ``dim``, oldest overwritten first.

    Buffers (not parameters), so the queue and its write pointer are saved in the
    state_dict and a resumed run sees the same negatives. Starts with random unit
    vectors, as MoCo does, so the first batches already have negatives.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 0 or dim < 1:
            raise ValueError(f"KeyQueue(size={size}, dim={dim}) is invalid: size >= 0 and dim >= 1")
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=generator), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, keys: Tensor) -> None:
        """Write ``keys [n, dim]`` (already gathered from all workers) at the pointer."""
        size = self.keys.shape[0]
        if size == 0:
            return
        keys = keys.detach()[-size:]
        index = (self.ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.keys[index] = F.normalize(keys.to(self.keys.dtype), dim=1)
        self.ptr.fill_(int((self.ptr + keys.shape[0]) % size))
