"""Fixed-length crops from audio recordings."""
from __future__ import annotations

import operator
from typing import Sequence

import numpy as np
import torch
import torch.utils.data

from .audio_decode import decode_mono
from .records import Item


class AudioCropDataset(torch.utils.data.Dataset):
    """Returns ``(waves [num_crops, T] float32, label)`` with ``T = round(crop_seconds * sample_rate)``.

    Key: ``(item_index, sample_seed)`` from :class:`EpochSampler`, or a plain ``item_index``.
    Training with a tuple key: ``num_crops`` independent uniformly random crop positions drawn
    from ``np.random.default_rng(sample_seed)`` (the views of a multi-view SSL method).
    Eval (``train=False`` or an int key): one deterministic centre crop, repeated ``num_crops``
    times.

    Recordings shorter than the crop are tiled (the waveform repeated end to end, read
    circularly) rather than zero-padded: a run of exact zeros never occurs in real field
    recordings, so it would be a trivial cue for "short recording" that an SSL model could
    latch onto, and silent views carry no signal to contrast.

    ``cache_decoded`` keeps each decoded, resampled waveform as float16 in a per-process dict,
    so OGG files are decoded once per loader worker rather than once per epoch. float16 (not
    int16) because its precision is relative: quiet recordings keep ~11 bits and Vorbis'
    small overshoots beyond +-1 survive without clipping.
    """

    def __init__(
        self,
        items: Sequence[Item],
        sample_rate: int,
        crop_seconds: float,
        num_crops: int = 1,
        train: bool = True,
        cache_decoded: bool = True,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate {sample_rate} must be > 0")
        if not crop_seconds > 0:
            raise ValueError(f"crop_seconds {crop_seconds} must be > 0")
        if num_crops < 1:
            raise ValueError(f"num_crops {num_crops} must be >= 1")
        self.items = tuple(items)
        self.sample_rate = int(sample_rate)
        self.crop_seconds = float(crop_seconds)
        self.crop_samples = round(crop_seconds * sample_rate)
        if self.crop_samples < 1:
            raise ValueError(f"crop_seconds {crop_seconds} at {sample_rate} Hz gives no samples")
        self.num_crops = num_crops
        self.train = train
        self.cache_decoded = cache_decoded
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def waveform(self, index: int) -> np.ndarray:
        """The whole decoded recording ``index`` at ``sample_rate``, ``[L]`` float32."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached.astype(np.float32)
        wave = decode_mono(self.items[index].path, self.sample_rate)
        if self.cache_decoded:
            # Return the float16-rounded copy on the first read too, so a crop never depends
            # on whether this process (or loader worker) had the recording cached already.
            self._cache[index] = wave.astype(np.float16)
            return self._cache[index].astype(np.float32)
        return wave

    def crop_starts(self, length: int, sample_seed: int | None) -> np.ndarray:
        """Start sample of each crop, ``[num_crops]``; None -> deterministic centre crop.

        Random starts are uniform over every possible crop: [0, L - T] when L >= T, and every
        circular shift [0, L - 1] of a tiled short recording.
        """
        if sample_seed is None or not self.train:
            start = max(0, (length - self.crop_samples) // 2)
            return np.full(self.num_crops, start, dtype=np.int64)
        rng = np.random.default_rng(sample_seed)
        high = length - self.crop_samples + 1 if length >= self.crop_samples else length
        return rng.integers(0, high, size=self.num_crops, dtype=np.int64)

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[torch.Tensor, int]:
        if isinstance(key, tuple):
            index, sample_seed = operator.index(key[0]), operator.index(key[1])
        else:
            index, sample_seed = operator.index(key), None
        if not 0 <= index < len(self.items):
            raise IndexError(f"item index {index} outside [0, {len(self.items) - 1}]")
        wave = self.waveform(index)
        starts = self.crop_starts(wave.shape[0], sample_seed)
        # Modulo indexing reads short recordings circularly (= tiling); for L >= T it is a no-op.
        positions = (starts[:, None] + np.arange(self.crop_samples)[None, :]) % wave.shape[0]
        waves = torch.from_numpy(np.ascontiguousarray(wave[positions]))
        return waves, self.items[index].label
