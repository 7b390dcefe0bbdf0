"""Evaluation batches: from a loader at every evaluation, or cut once and held on the device.

Evaluation inputs never change during a run: the kNN bank and the queries are deterministic
windows (the centre crop, or windows spread over the recording), and ``align``'s crops come
from a sampler with fixed seeds. So instead of a loader pass at every evaluation (worker
processes, per-item Python, a host-to-device copy per batch), :func:`hold_batches` runs the
loader's own dataset, sampler and collate function once, in this process, and keeps every
batch on the device; an evaluation then iterates a list of device tensors. The batches are
the loader's to the bit, in the same order and of the same sizes (so a model in eval mode
gives the same embeddings), and each is stored as float16 only where that is exact (the
decode cache's audio is float16) and read back as float32, as the loader gives it.

Both sources yield ``(positions, batch)``: the split positions of the batch's items (for
putting gathered shards back in order) and the loader's batch, ``(windows [sum W, T],
counts [B], labels [B])`` for audio windows or ``(x, labels [B])`` otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader

Batch = tuple[Tensor, ...]


def sampler_positions(loader: DataLoader) -> Iterator[list[int]]:
    """The split positions of each batch ``loader`` yields, from its sampler's keys
    (``(index, seed)`` or ``index``), batch by batch."""
    batch: list[int] = []
    for key in loader.sampler:
        batch.append(int(key[0]) if isinstance(key, tuple) else int(key))
        if len(batch) == loader.batch_size:
            yield batch
            batch = []
    if batch and not loader.drop_last:
        yield batch


def loader_batches(loader: DataLoader) -> Iterable[tuple[list[int], Batch]]:
    """One pass of ``loader`` with each batch's positions (host tensors, pinned on CUDA)."""
    return zip(sampler_positions(loader), loader)


@dataclass
class _Held:
    positions: Tensor  # [B] int64 on the device
    tensors: tuple[Tensor, ...]  # the batch's tensors on the device (float16 where that is exact)
    widened: tuple[bool, ...]  # which of them to read back as float32


class HeldBatches:
    """A loader's batches cut once and kept on ``device`` (module docstring). Iterate it at
    every evaluation; ``nbytes`` is what it holds there."""

    def __init__(self, held: list[_Held]) -> None:
        self._held = held
        self.nbytes = sum(t.numel() * t.element_size() for h in held for t in (h.positions, *h.tensors))

    def __iter__(self) -> Iterator[tuple[Tensor, Batch]]:
        for h in self._held:
            yield h.positions, tuple(t.float() if wide else t for t, wide in zip(h.tensors, h.widened))

    def __len__(self) -> int:
        return len(self._held)


def hold_batches(loader: DataLoader, device: torch.device, budget_bytes: float) -> HeldBatches | None:
    """``loader``'s batches, made in this process (no worker starts) and held on ``device``;
    None as soon as they would take more than ``budget_bytes`` (what was cut is dropped, and
    the caller keeps the loader)."""
    here = DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=loader.sampler,
                      collate_fn=loader.collate_fn, drop_last=loader.drop_last, num_workers=0)
    held, total = [], 0
    for positions, batch in loader_batches(here):
        tensors, widened = [], []
        for t in batch:
            narrow = t.half() if t.dtype == torch.float32 and torch.equal(t.half().float(), t) else t
            tensors.append(narrow)
            widened.append(narrow.dtype != t.dtype)
            total += narrow.numel() * narrow.element_size()
        total += 8 * len(positions)
        if total > budget_bytes:
            return None
        held.append(_Held(torch.as_tensor(positions, dtype=torch.int64).to(device),
                          tuple(t.to(device) for t in tensors), tuple(widened)))
    return HeldBatches(held)
