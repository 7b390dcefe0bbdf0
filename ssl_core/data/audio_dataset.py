"""Fixed-length crops (training, centre-crop evaluation) and evaluation windows from audio recordings."""
from __future__ import annotations

import operator
from typing import Sequence

import numpy as np
import torch
import torch.utils.data

from .audio_decode import decode_mono
from .decode_cache import DecodeCache
from .records import Item
from .windows import (EVAL_WINDOWS, WINDOW_WEIGHTINGS, centre_start, energy_weighted_starts, frame_energy,
                      frame_samples, read_windows, spread_starts, uniform_starts)


def _crop_samples(sample_rate: int, crop_seconds: float) -> int:
    if sample_rate <= 0:
        raise ValueError(f"sample_rate {sample_rate} must be > 0")
    if not crop_seconds > 0:
        raise ValueError(f"crop_seconds {crop_seconds} must be > 0")
    samples = round(crop_seconds * sample_rate)
    if samples < 1:
        raise ValueError(f"crop_seconds {crop_seconds} at {sample_rate} Hz gives no samples")
    return samples


def _split_key(key: tuple[int, int] | int, size: int) -> tuple[int, int | None]:
    """``(item_index, sample_seed)`` or a plain ``item_index`` -> (index, seed or None)."""
    if isinstance(key, tuple):
        index, seed = operator.index(key[0]), operator.index(key[1])
    else:
        index, seed = operator.index(key), None
    if not 0 <= index < size:
        raise IndexError(f"item index {index} outside [0, {size - 1}]")
    return index, seed


class WaveSource:
    """Where a dataset's waveforms come from, in order of preference:

    1. ``cache`` (a :class:`DecodeCache`): a float16 memmap; nothing is decoded after the first
       pass, in any process, and each process's memory holds only the pages it touched.
    2. ``keep_decoded``: decoded once per process, kept as float16 in a dict.
    3. Otherwise decoded on every read (float32).
    """

    def __init__(self, items: Sequence[Item], sample_rate: int, cache: DecodeCache | None = None,
                 keep_decoded: bool = True) -> None:
        if cache is not None and cache.sample_rate != sample_rate:
            raise ValueError(f"the decode cache holds {cache.sample_rate} Hz audio but the dataset needs "
                             f"{sample_rate} Hz")
        self.items = tuple(items)
        self.sample_rate = int(sample_rate)
        self.cache = cache
        self.keep_decoded = keep_decoded
        self.frame = frame_samples(self.sample_rate)
        self._decoded: dict[int, np.ndarray] = {}
        self._energy: dict[int, np.ndarray] = {}  # ~10 floats per second of audio: always kept

    def wave(self, index: int) -> np.ndarray:
        """Recording ``index`` at ``sample_rate``, ``[L]`` (float16 memmap / float16 / float32)."""
        if self.cache is not None:
            return self.cache.load(self.items[index])
        kept = self._decoded.get(index)
        if kept is not None:
            return kept
        wave = decode_mono(self.items[index].path, self.sample_rate)
        if self.keep_decoded:
            # Serve the float16-rounded copy on the first read too, so a crop never depends on
            # whether this process (or loader worker) had the recording already.
            wave = self._decoded[index] = wave.astype(np.float16)
        return wave

    def energy(self, index: int) -> np.ndarray:
        """Mean square per 0.1 s frame of recording ``index``, ``[ceil(L / frame)]`` float32."""
        energy = self._energy.get(index)
        if energy is None:
            if self.cache is not None:
                energy = self.cache.frame_energy(self.items[index])
            else:
                energy = frame_energy(self.wave(index), self.frame)
            self._energy[index] = energy
        return energy


class AudioCropDataset(torch.utils.data.Dataset):
    """Returns ``(waves [num_crops, T] float32, label)`` with ``T = round(crop_seconds * sample_rate)``.

    Key: ``(item_index, sample_seed)`` from :class:`EpochSampler`, or a plain ``item_index``.
    Training with a tuple key: ``num_crops`` independent random crop positions drawn from
    ``np.random.default_rng(sample_seed)`` (the views of a multi-view SSL method), uniform over
    every possible crop (``window_weighting="uniform"``) or favouring loud windows
    (``"energy"``, see :func:`~ssl_core.data.windows.energy_weighted_starts`; ``energy_floor``
    is the share of uniform draws that keeps silent windows possible).
    Eval (``train=False`` or an int key): one deterministic centre crop, repeated ``num_crops``
    times.

    Recordings shorter than the crop are tiled (the waveform repeated end to end, read
    circularly) rather than zero-padded: a run of exact zeros never occurs in real field
    recordings, so it would be a trivial cue for "short recording" that an SSL model could
    latch onto, and silent views carry no signal to contrast.

    ``cache`` (a :class:`DecodeCache`) reads memory-mapped, already decoded audio, so no epoch,
    loader worker or later trial decodes OGG again. Without it, ``cache_decoded`` keeps each
    decoded, resampled waveform as float16 in a per-process dict (decoded once per loader
    worker). float16 (not int16) because its precision is relative: quiet recordings keep ~11
    bits and Vorbis' small overshoots beyond +-1 survive without clipping. Both caches round to
    float16, so they give identical crops.
    """

    def __init__(
        self,
        items: Sequence[Item],
        sample_rate: int,
        crop_seconds: float,
        num_crops: int = 1,
        train: bool = True,
        cache_decoded: bool = True,
        cache: DecodeCache | None = None,
        window_weighting: str = "uniform",
        energy_floor: float = 0.1,
    ) -> None:
        self.crop_samples = _crop_samples(sample_rate, crop_seconds)
        if num_crops < 1:
            raise ValueError(f"num_crops {num_crops} must be >= 1")
        if window_weighting not in WINDOW_WEIGHTINGS:
            raise ValueError(f"window_weighting {window_weighting!r} is not one of {WINDOW_WEIGHTINGS}")
        if not 0.0 <= energy_floor <= 1.0:
            raise ValueError(f"energy_floor {energy_floor} must be in [0, 1]")
        self.items = tuple(items)
        self.sample_rate = int(sample_rate)
        self.crop_seconds = float(crop_seconds)
        self.num_crops = num_crops
        self.train = train
        self.cache_decoded = cache_decoded
        self.window_weighting = window_weighting
        self.energy_floor = float(energy_floor)
        self.source = WaveSource(self.items, self.sample_rate, cache, keep_decoded=cache_decoded)

    def __len__(self) -> int:
        return len(self.items)

    def waveform(self, index: int) -> np.ndarray:
        """The whole decoded recording ``index`` at ``sample_rate``, ``[L]`` float32."""
        return np.array(self.source.wave(index), dtype=np.float32)

    def crop_starts(self, length: int, sample_seed: int | None, index: int | None = None) -> np.ndarray:
        """Start sample of each crop, ``[num_crops]``; None -> deterministic centre crop.

        Uniform starts cover [0, L - T] when L >= T, and every circular shift [0, L - 1] of a
        tiled short recording. Energy-weighted starts need the item ``index`` (its energies).
        """
        if sample_seed is None or not self.train:
            return np.full(self.num_crops, centre_start(length, self.crop_samples), dtype=np.int64)
        rng = np.random.default_rng(sample_seed)
        if self.window_weighting == "uniform":
            return uniform_starts(rng, length, self.crop_samples, self.num_crops)
        if index is None:
            raise ValueError("energy-weighted crop starts need the item index")
        return energy_weighted_starts(rng, self.source.energy(index), self.source.frame, length,
                                      self.crop_samples, self.num_crops, self.energy_floor)

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[torch.Tensor, int]:
        index, sample_seed = _split_key(key, len(self.items))
        wave = self.source.wave(index)
        starts = self.crop_starts(wave.shape[0], sample_seed, index)
        return torch.from_numpy(read_windows(wave, starts, self.crop_samples)), self.items[index].label


class AudioWindowsDataset(torch.utils.data.Dataset):
    """Deterministic evaluation windows: ``(windows [W, T] float32, label)`` per recording.

    ``mode="mean"``: ``W = min(ceil(L / T), max_windows)`` windows spread from the start to the
    end of the recording (:func:`~ssl_core.data.windows.spread_starts`), whose embeddings the
    evaluator averages; ``mode="centre"``: ``W = 1``, the centre crop of
    :class:`AudioCropDataset` (so one evaluation code path serves both settings).
    Batch with ``collate_fn=collate_windows`` -> ``(windows [sum W, T], counts [B], labels [B])``,
    embed the rows, then ``mean_pool(embeddings, counts) -> [B, F]``.
    Keys: ``item_index`` or ``(item_index, sample_seed)``; the seed is ignored.
    """

    def __init__(self, items: Sequence[Item], sample_rate: int, crop_seconds: float,
                 cache: DecodeCache | None = None, max_windows: int = 8, mode: str = "mean",
                 cache_decoded: bool = True) -> None:
        self.crop_samples = _crop_samples(sample_rate, crop_seconds)
        if max_windows < 1:
            raise ValueError(f"max_windows {max_windows} must be >= 1")
        if mode not in EVAL_WINDOWS:
            raise ValueError(f"eval windows mode {mode!r} is not one of {EVAL_WINDOWS}")
        self.items = tuple(items)
        self.sample_rate = int(sample_rate)
        self.max_windows = max_windows
        self.mode = mode
        self.source = WaveSource(self.items, self.sample_rate, cache, keep_decoded=cache_decoded)

    def __len__(self) -> int:
        return len(self.items)

    def window_starts(self, length: int) -> np.ndarray:
        """Start sample of each window of a recording of ``length`` samples, ``[W]`` int64."""
        if self.mode == "centre":
            return np.array([centre_start(length, self.crop_samples)], dtype=np.int64)
        return spread_starts(length, self.crop_samples, self.max_windows)

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[torch.Tensor, int]:
        index, _ = _split_key(key, len(self.items))
        wave = self.source.wave(index)
        starts = self.window_starts(wave.shape[0])
        return torch.from_numpy(read_windows(wave, starts, self.crop_samples)), self.items[index].label
