"""Epoch sampler that hands each item a per-sample seed.

Datasets draw their per-sample randomness (crop positions) from that seed, not from a global
or per-worker generator, so the same (seed, epoch) reproduces exactly the same crops whatever
the number of loader workers, and a run resumed at epoch e repeats epoch e bit for bit.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterator

import numpy as np
import torch.utils.data

_SEED_HIGH = 2**63 - 1


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(item_index, sample_seed)`` for this rank's share of one epoch.

    For epoch e: ``rng = np.random.default_rng([seed, e])``; the order is ``rng.permutation(n * r)
    % n`` (or ``arange(n * r) % n`` without shuffle) for ``r = repeats`` and one sample seed per
    position is drawn from the same rng. ``repeats`` > 1 visits every item r times an epoch, each
    time with its own seed, so a long recording gives r different windows an epoch
    (``data.windows_per_epoch``); ``repeats`` = 1 is the plain epoch, draw for draw. The order
    (with its seeds) is padded by wrapping around, or truncated if ``drop_last``, to a multiple of ``world_size``; rank r takes ``order[r::world_size]``. Every rank sees the
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
        repeats: int = 1,
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
        if repeats < 1:
            raise ValueError(f"repeats {repeats} must be >= 1")
        self.num_items = num_items
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.repeats = repeats
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and seeds ``__iter__`` yields."""
        if epoch < 0:
            raise ValueError(f"epoch {epoch} must be >= 0")
        self.epoch = epoch

    def _total(self) -> int:
        positions = self.num_items * self.repeats
        if self.drop_last:
            return (positions // self.world_size) * self.world_size
        return math.ceil(positions / self.world_size) * self.world_size

    def __len__(self) -> int:
        return self._total() // self.world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = self.num_items * self.repeats
        order = (rng.permutation(n) if self.shuffle else np.arange(n)) % self.num_items
        seeds = rng.integers(0, _SEED_HIGH, size=n, dtype=np.int64)
        total = self._total()
        # np.resize repeats the array cyclically: wrap-around padding, or truncation.
        order = np.resize(order, total)[self.rank :: self.world_size]
        seeds = np.resize(seeds, total)[self.rank :: self.world_size]
        return iter(zip(order.tolist(), seeds.tolist()))


class SpanningSampler(torch.utils.data.Sampler):
    """The keys of epochs ``start, start + 1, ..., end - 1`` back to back, one DataLoader pass for all.

    Epoch e contributes the first ``per_epoch`` keys of ``EpochSampler.__iter__`` at epoch e
    (``per_epoch`` = steps per epoch x the local batch, so batches never straddle an epoch).
    One iterator over a DataLoader with this sampler keeps its workers busy across epoch
    boundaries: while epoch e's last steps (and its evaluation) run, the workers already build
    epoch e+1's first batches, where a new ``iter(loader)`` per epoch made the first step of
    every epoch wait for a whole batch. The keys depend on (seed, epoch) only, so starting at
    epoch e (a resumed run) gives exactly the keys an uninterrupted pass gives from e on.
    """

    def __init__(self, epoch_sampler: EpochSampler, per_epoch: int, end_epoch: int) -> None:
        super().__init__()
        if not 1 <= per_epoch <= len(epoch_sampler):
            raise ValueError(f"per_epoch {per_epoch} must be in [1, {len(epoch_sampler)}]")
        if end_epoch < 1:
            raise ValueError(f"end_epoch {end_epoch} must be >= 1")
        self.epoch_sampler = epoch_sampler
        self.per_epoch = per_epoch
        self.end_epoch = end_epoch
        self.start_epoch = 0

    def start_at(self, epoch: int) -> None:
        """Make the next ``__iter__`` begin with epoch ``epoch``."""
        if not 0 <= epoch < self.end_epoch:
            raise ValueError(f"epoch {epoch} must be in [0, {self.end_epoch - 1}]")
        self.start_epoch = epoch

    def __len__(self) -> int:
        return (self.end_epoch - self.start_epoch) * self.per_epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        # Lazily, one epoch at a time: a bench spans 1000 epochs.
        for epoch in range(self.start_epoch, self.end_epoch):
            yield from epoch_keys(self.epoch_sampler, epoch, self.per_epoch)


def epoch_keys(sampler: EpochSampler, epoch: int, count: int) -> list[tuple[int, int]]:
    """The first ``count`` ``(item_index, sample_seed)`` keys ``sampler`` yields at ``epoch``."""
    sampler.set_epoch(epoch)
    return list(itertools.islice(iter(sampler), count))
