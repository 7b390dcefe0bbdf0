"""Training batches epoch by epoch, from loader processes or from data held on the training device.

Both sources yield, for epoch e, ``steps`` batches ``(x, labels)`` made from the keys an
:class:`~ssl_core.data.sampler.EpochSampler` gives at e (first ``steps * batch`` of them):

* :class:`LoaderBatches`: a DataLoader over a :class:`~ssl_core.data.sampler.SpanningSampler`,
  one iterator for the whole run, so its workers build epoch e+1's first batches while epoch e
  ends and evaluates (no stall at epoch starts). ``x`` is on the host (pinned on CUDA).
* :class:`DeviceBatches`: the decoded train split sits on the device (float16 audio, or
  uint8 images); a batch is one ``index_select`` there. No loader processes, and no
  host-to-device copy per step: an epoch's crop positions are computed on the host (by the
  dataset's own ``crop_starts``, from the same seeds, so the crops are the loader's crops to
  the bit) and copied once per epoch, and epoch e+1's are computed by a helper thread while
  epoch e trains.

Keys depend on (seed, epoch) alone, so ``epoch(e)`` on a fresh object (a resumed run) yields
exactly the batches an uninterrupted run yields at e.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .audio_dataset import AudioCropDataset
from .image_dataset import ImageDataset
from .sampler import EpochSampler, SpanningSampler, epoch_keys

PLACEMENTS = ("auto", "device", "loader")


class EpochBatches(Protocol):
    """What the trainer iterates: ``epoch(e)`` yields ``steps_per_epoch`` batches ``(x, labels [B])``."""

    placement: str  # "device" or "loader"
    steps_per_epoch: int

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]: ...

    def close(self) -> None: ...


class LoaderBatches:
    """Batches from ``loader``, whose sampler is a :class:`SpanningSampler` (module docstring)."""

    placement = "loader"

    def __init__(self, loader: DataLoader, steps_per_epoch: int) -> None:
        if not isinstance(loader.sampler, SpanningSampler):
            raise TypeError("LoaderBatches needs a DataLoader over a SpanningSampler")
        self.loader = loader
        self.steps_per_epoch = steps_per_epoch
        self._batches: Iterator | None = None
        self._next_epoch: int | None = None  # the epoch the running iterator continues with

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Epoch ``epoch``'s batches: ``x`` audio ``[B, V, T]`` float32 or images ``[B, C, H, W]`` uint8."""
        if self._batches is None or self._next_epoch != epoch:
            # First call, a resume, or a skipped/abandoned epoch: restart the pass at `epoch`.
            self.loader.sampler.start_at(epoch)
            self._batches = iter(self.loader)
        self._next_epoch = None  # until this epoch is consumed whole
        for _ in range(self.steps_per_epoch):
            yield next(self._batches)
        self._next_epoch = epoch + 1

    def close(self) -> None:
        """End the persistent workers now (they would otherwise live as long as the loader)."""
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        self._batches, self._next_epoch = None, None


@dataclass
class EpochPlan:
    """One epoch's batches as indices on the device: ``rows [steps * B, R]`` int64, ``labels [steps * B]``.

    Audio: ``R = num_crops``, absolute start samples into the flat waveform buffer. Images:
    ``R = 1``, item indices.
    """

    rows: Tensor
    labels: Tensor


class DeviceBatches:
    """The train split held on ``device``; batches cut there by index (module docstring).

    Audio: recordings are concatenated into one flat buffer ``[S]`` (their stored dtype:
    float16 from the decode cache), a recording shorter than the crop followed by its tiled
    continuation (``T - 1`` more samples) so every crop, wrapped or not, is a contiguous
    window; ``windows = flat.as_strided([S - T + 1, T], [1, 1])`` then makes a batch one
    ``index_select`` of rows: ``[B * V, T]`` -> ``[B, V, T]`` float32, as the loader's.
    Images (all of one shape): ``[N, C, H, W]`` uint8, a batch ``[B, C, H, W]``.
    """

    placement = "device"

    def __init__(self, dataset: AudioCropDataset | ImageDataset, sampler: EpochSampler, batch: int,
                 steps_per_epoch: int, device: torch.device) -> None:
        self.dataset = dataset
        self.sampler = EpochSampler(sampler.num_items, sampler.seed, sampler.shuffle, sampler.rank,
                                    sampler.world_size, sampler.drop_last, sampler.repeats)  # our own: set_epoch from a thread
        self.batch = batch
        self.steps_per_epoch = steps_per_epoch
        self.device = device
        self.labels = torch.tensor([item.label for item in dataset.items], dtype=torch.int64, device=device)
        self.audio = isinstance(dataset, AudioCropDataset)
        if self.audio:
            flat, self.offsets, self.lengths = _flat_audio(dataset)
            self.flat = torch.from_numpy(flat).to(device)
            crop = dataset.crop_samples
            self.windows = self.flat.as_strided((self.flat.numel() - crop + 1, crop), (1, 1))
        else:
            self.images = torch.stack([dataset[i][0] for i in range(len(dataset))]).to(device)
        held = self.flat if self.audio else self.images
        self.nbytes = held.numel() * held.element_size()  # what the split takes on the device
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="epoch-plan")
        self._pending: dict[int, Future] = {}

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Epoch ``epoch``'s batches, on the device: audio ``[B, V, T]`` float32 or images ``[B, C, H, W]`` uint8."""
        pending = self._pending.pop(epoch, None)
        plan = pending.result() if pending is not None else self._plan(epoch)
        self._pending = {epoch + 1: self._pool.submit(self._plan, epoch + 1)}  # ready by the next epoch
        for step in range(self.steps_per_epoch):
            rows = plan.rows[step * self.batch:(step + 1) * self.batch]
            labels = plan.labels[step * self.batch:(step + 1) * self.batch]
            if self.audio:
                x = self.windows.index_select(0, rows.reshape(-1)).view(*rows.shape, -1).float()
            else:
                x = self.images.index_select(0, rows[:, 0])
            yield x, labels

    def _plan(self, epoch: int) -> EpochPlan:
        """Keys of ``epoch`` -> its rows and labels, computed on the host and copied to the device once."""
        keys = epoch_keys(self.sampler, epoch, self.steps_per_epoch * self.batch)
        items = np.array([index for index, _ in keys], dtype=np.int64)
        if self.audio:
            # The dataset's own crop_starts from the same seeds: the loader path's crops exactly.
            starts = np.stack([self.dataset.crop_starts(int(self.lengths[index]), seed, index)
                               for index, seed in keys])
            rows = self.offsets[items][:, None] + starts
        else:
            rows = items[:, None]
        rows_device = torch.from_numpy(rows).to(self.device)
        return EpochPlan(rows_device, self.labels.index_select(0, torch.from_numpy(items).to(self.device)))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending = {}


def _flat_audio(dataset: AudioCropDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every recording back to back: ``(flat [S], offsets [N] int64, lengths [N] int64)``.

    A recording of ``L < T`` samples is stored tiled to ``L + T - 1`` samples (a crop starting
    at any ``s < L`` then reads ``wave[(s + arange(T)) % L]`` contiguously, as ``read_windows``).
    """
    crop = dataset.crop_samples
    waves = [dataset.source.wave(i) for i in range(len(dataset))]
    dtype = np.float16 if all(w.dtype == np.float16 for w in waves) else np.float32
    lengths = np.array([w.shape[0] for w in waves], dtype=np.int64)
    stored = np.where(lengths < crop, lengths + crop - 1, lengths)
    offsets = np.concatenate([[0], np.cumsum(stored)[:-1]]).astype(np.int64)
    flat = np.empty(int(stored.sum()), dtype=dtype)
    for wave, offset, size in zip(waves, offsets.tolist(), stored.tolist()):
        flat[offset:offset + size] = np.resize(np.asarray(wave), size)  # np.resize tiles cyclically
    return flat, offsets, lengths


def device_bytes(dataset: AudioCropDataset | ImageDataset) -> int | None:
    """Bytes :class:`DeviceBatches` would hold for ``dataset``; None if it cannot hold it.

    Audio: recording lengths from the decode cache's memmap headers (no audio read). Images:
    each image is decoded once; None when they differ in shape (no single ``[N, C, H, W]``).
    """
    if isinstance(dataset, AudioCropDataset):
        crop, total, itemsize = dataset.crop_samples, 0, 2
        for i in range(len(dataset)):
            wave = dataset.source.wave(i)
            length = wave.shape[0]
            total += length + crop - 1 if length < crop else length
            itemsize = max(itemsize, wave.dtype.itemsize)
        return total * itemsize
    shapes = {tuple(dataset[i][0].shape) for i in range(len(dataset))}
    if len(shapes) != 1:
        return None
    return len(dataset) * int(np.prod(next(iter(shapes))))
