"""Epoch sampler that hands each item a per-sample seed.

Datasets draw their per-sample randomness (crop positions) from that seed, not from a global
or per-worker generator, so the same (seed, epoch) reproduces exactly the same crops whatever
the number of loader workers, and a run resumed at epoch e repeats epoch e bit for bit.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch.utils.data

_SEED_HIGH = 2**63 - 1


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(item_index, sample_seed)`` for this rank's share of one epoch.

    For epoch e: ``rng = np.random.default_rng([seed, e])``; the order is ``rng.permutation(n)``
    (or ``arange(n)`` without shuffle) and one sample seed per position is drawn from the same
    rng. The order (with its seeds) is padded by wrapping around, or truncated if ``drop_last``,
    to a multiple of ``world_size``; rank r takes ``order[r::world_size]``. Every rank sees the
    same length, which keeps distributed collectives in step.
    """

    def __init__(
        self,
        num_items: int,
        seed: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        if num_items < 1:
            raise ValueError(f"num_items {num_items} must be >= 1")
        if world_size < 1:
            raise ValueError(f"world_size {world_size} must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} must be in [0, {world_size - 1}]")
        if seed < 0:
            raise ValueError(f"seed {seed} must be >= 0")
        self.num_items = num_items
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and seeds ``__iter__`` yields."""
        if epoch < 0:
            raise ValueError(f"epoch {epoch} must be >= 0")
        self.epoch = epoch

    def _total(self) -> int:
        if self.drop_last:
            return (self.num_items // self.world_size) * self.world_size
        return math.ceil(self.num_items / self.world_size) * self.world_size

    def __len__(self) -> int:
        return self._total() // self.world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = self.num_items
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        seeds = rng.integers(0, _SEED_HIGH, size=n, dtype=np.int64)
        total = self._total()
        # np.resize repeats the array cyclically: wrap-around padding, or truncation.
        order = np.resize(order, total)[self.rank :: self.world_size]
        seeds = np.resize(seeds, total)[self.rank :: self.world_size]
        return iter(zip(order.tolist(), seeds.tolist()))
