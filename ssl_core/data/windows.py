"""Where windows of a long recording start, reading them, and pooling per-window embeddings.

Training draws random windows (uniformly, or weighted by energy so silent stretches are picked
less often); evaluation takes deterministic windows (the centre one, or windows spread over the
whole recording whose embeddings are averaged). Everything here is a pure function of arrays.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

FRAME_SECONDS = 0.1  # energy resolution: fine next to a 1-5 s window, and 10 floats per second to store
WINDOW_WEIGHTINGS = ("uniform", "energy")
EVAL_WINDOWS = ("centre", "mean")


def frame_samples(sample_rate: int) -> int:
    """Samples per energy frame (``FRAME_SECONDS`` at ``sample_rate``, at least 1)."""
    return max(1, round(FRAME_SECONDS * sample_rate))


def frame_energy(wave: np.ndarray, frame: int) -> np.ndarray:
    """Mean square of each ``frame``-sample frame: ``wave [L]`` -> ``[ceil(L / frame)]`` float32.

    The last, partial frame is averaged over the samples it has. Accumulates in float64 so a
    float16 waveform gives the same energies as its float32 copy.
    """
    if frame < 1:
        raise ValueError(f"frame {frame} must be >= 1")
    length = wave.shape[0]
    count = -(-length // frame)
    squares = np.square(np.asarray(wave, dtype=np.float64))
    padded = np.zeros(count * frame, dtype=np.float64)
    padded[:length] = squares
    sums = padded.reshape(count, frame).sum(axis=1)
    sizes = np.full(count, frame, dtype=np.float64)
    if count:
        sizes[-1] = length - (count - 1) * frame
    return (sums / sizes).astype(np.float32)


def uniform_starts(rng: np.random.Generator, length: int, crop: int, count: int) -> np.ndarray:
    """``count`` uniform crop starts, ``[count]`` int64.

    Every possible crop is equally likely: starts in [0, L - T] when L >= T, and every circular
    shift [0, L - 1] of a recording shorter than the crop (read tiled).
    """
    high = length - crop + 1 if length >= crop else length
    return rng.integers(0, high, size=count, dtype=np.int64)


def energy_weighted_starts(rng: np.random.Generator, energy: np.ndarray, frame: int, length: int, crop: int,
                           count: int, floor: float) -> np.ndarray:
    """``count`` crop starts drawn with probability growing with the window's energy, ``[count]`` int64.

    ``energy: [ceil(L / frame)]`` is :func:`frame_energy`. A start frame ``k`` (window starting
    at sample ``k * frame``) is drawn with probability ``(1 - floor) * E_k / sum(E) + floor / K``,
    where ``E_k`` is the summed frame energy of the ``ceil(T / frame)`` frames the window covers
    (prefix sums, so O(K)) and ``K`` the number of start frames; the start is then uniform within
    that frame. ``floor`` is the share of draws that stay uniform: silent windows remain possible
    (background-only views are real data, and never seeing them would make "silence" unknown to
    the model) but rare. With no energy at all (digital silence) every start is uniform.
    Recordings shorter than the crop are read tiled, every window covers all of it, so starts
    are uniform circular shifts as in :func:`uniform_starts`.
    """
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"energy floor {floor} must be in [0, 1]")
    if length <= crop:
        return uniform_starts(rng, length, crop, count)
    starts_frames = (length - crop) // frame + 1  # K: frames k with k * frame <= L - T
    span = -(-crop // frame)
    prefix = np.concatenate([[0.0], np.cumsum(energy, dtype=np.float64)])
    first = np.arange(starts_frames)
    window = prefix[np.minimum(first + span, energy.shape[0])] - prefix[first]
    total = window.sum()
    if not total > 0:
        probs = np.full(starts_frames, 1.0 / starts_frames)
    else:
        probs = (1.0 - floor) * window / total + floor / starts_frames
        probs /= probs.sum()
    chosen = rng.choice(starts_frames, size=count, p=probs)
    low = chosen * frame
    high = np.minimum(low + frame - 1, length - crop)  # the last start frame may be partial
    return rng.integers(low, high + 1, dtype=np.int64)


def centre_start(length: int, crop: int) -> int:
    """The deterministic centre crop's start (0 for a recording shorter than the crop)."""
    return max(0, (length - crop) // 2)


def spread_starts(length: int, crop: int, max_windows: int) -> np.ndarray:
    """Deterministic evaluation windows covering a recording, ``[W]`` int64 with ``1 <= W <= max_windows``.

    ``W = ceil(L / T)`` windows (capped at ``max_windows``) evenly spaced from the start to the
    end: the first starts at 0, the last ends at L. When ``W * T > L`` neighbours overlap by the
    small excess, spread evenly; this covers every sample without the zero-padding or tiled
    last window whose seam (or repeated opening seconds) would count in the average. Above
    ``max_windows`` the windows sample the recording evenly instead of covering it. A recording
    shorter than one window gives one window at 0 (read tiled).
    """
    if max_windows < 1:
        raise ValueError(f"max_windows {max_windows} must be >= 1")
    if length <= crop:
        return np.zeros(1, dtype=np.int64)
    count = min(math.ceil(length / crop), max_windows)
    return np.rint(np.linspace(0, length - crop, count)).astype(np.int64)


def read_windows(wave: np.ndarray, starts: np.ndarray, crop: int) -> np.ndarray:
    """Windows of ``crop`` samples at ``starts`` from ``wave [L]``, ``[len(starts), crop]`` float32.

    Reads circularly past the end (tiling a short recording). ``wave`` may be a read-only memmap:
    a window inside the recording is a slice, so only its pages are read from disk.
    """
    length = wave.shape[0]
    out = np.empty((len(starts), crop), dtype=np.float32)
    for row, start in enumerate(starts.tolist()):
        if start + crop <= length:
            out[row] = wave[start:start + crop]
        else:
            out[row] = wave[np.arange(start, start + crop) % length]
    return out


def collate_windows(batch: Sequence[tuple[Tensor, int]]) -> tuple[Tensor, Tensor, Tensor]:
    """DataLoader ``collate_fn`` for :class:`AudioWindowsDataset` items ``(windows [W_i, T], label)``.

    Returns ``(windows [sum W_i, T], counts [B] int64, labels [B] int64)``: recordings'
    windows are concatenated in batch order (no padding, so no wasted forward passes), and
    ``counts`` says how many rows belong to each recording; see :func:`mean_pool`.
    """
    windows = torch.cat([w for w, _ in batch])
    counts = torch.tensor([w.shape[0] for w, _ in batch], dtype=torch.int64)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64)
    return windows, counts, labels


def mean_pool(embeddings: Tensor, counts: Tensor) -> Tensor:
    """Average per-window embeddings per recording: ``[sum counts, F]`` -> ``[B, F]``.

    Rows are grouped in order: the first ``counts[0]`` rows belong to recording 0, and so on
    (the layout :func:`collate_windows` produces).
    """
    counts = counts.to(device=embeddings.device, dtype=torch.int64)
    if counts.ndim != 1 or (counts < 1).any():
        raise ValueError(f"counts must be a 1-D tensor of positive window counts, got {counts.tolist()}")
    if int(counts.sum()) != embeddings.shape[0]:
        raise ValueError(f"counts sum to {int(counts.sum())} but there are {embeddings.shape[0]} embeddings")
    owner = torch.repeat_interleave(torch.arange(counts.shape[0], device=embeddings.device), counts)
    sums = torch.zeros(counts.shape[0], *embeddings.shape[1:], dtype=embeddings.dtype, device=embeddings.device)
    sums.index_add_(0, owner, embeddings)
    return sums / counts.to(embeddings.dtype).view(-1, *([1] * (embeddings.ndim - 1)))
