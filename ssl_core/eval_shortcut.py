"""The shortcut probe's inputs: disjoint windows of the held-out recordings, embedded.

The metric itself (:func:`ssl_core.eval.shortcut.recording_share`) takes embeddings; this
module cuts the windows from the query split's recordings (once per run) and embeds them at
each evaluation. Audio only: an image has no recording to be recognised by.
"""

from __future__ import annotations

import numpy as np
import torch

from ssl_core.config import Config
from ssl_core.data.audio_dataset import WaveSource
from ssl_core.data.windows import read_windows
from ssl_core.data_pipeline import DataBundle, decode_cache_for
from ssl_core.eval.shortcut import recording_share

CHUNK = 64  # windows per forward pass


def disjoint_starts(length: int, crop: int, count: int) -> np.ndarray:
    """Up to ``count`` non-overlapping windows spread over a recording, ``[W]`` int64 (W <= count).

    ``W = min(count, length // crop)``: starts evenly spaced from 0 to ``length - crop``, so
    neighbours are at least ``crop`` apart. Empty when the recording holds fewer than two windows.
    """
    fits = min(count, length // crop)
    if fits < 2:
        return np.zeros(0, dtype=np.int64)
    return np.rint(np.linspace(0, length - crop, fits)).astype(np.int64)


class ShortcutProbe:
    """Windows ``[W, T]`` of the query split's recordings, their recording and class, ready to embed."""

    def __init__(self, cfg: Config, data: DataBundle, split: str) -> None:
        ids = data.splits[split]
        crop = int(round(cfg.data.crop_seconds * cfg.data.sample_rate))
        source = WaveSource([data.index.items[i] for i in ids], cfg.data.sample_rate, decode_cache_for(cfg),
                            keep_decoded=False)
        labels = data.index.labels()[ids]
        windows, recordings, classes = [], [], []
        for position in range(len(ids)):
            wave = source.wave(position)
            starts = disjoint_starts(wave.shape[0], crop, cfg.eval.shortcut_windows)
            if len(starts):
                windows.append(read_windows(wave, starts, crop))
                recordings += [position] * len(starts)
                classes += [int(labels[position])] * len(starts)
        self.windows = torch.from_numpy(np.concatenate(windows)) if windows else torch.zeros(0, crop)
        self.recordings = torch.as_tensor(recordings, dtype=torch.long)
        self.labels = torch.as_tensor(classes, dtype=torch.long)

    @torch.no_grad()
    def measure(self, encode, prepare, device: torch.device) -> dict[str, float]:
        """Embed the windows (``encode(prepare(x))``) and score :func:`recording_share`."""
        if len(self.windows) == 0:
            return recording_share(torch.zeros(0, 1), self.recordings, self.labels)
        features = torch.cat([encode(prepare(self.windows[i:i + CHUNK].to(device))).float()
                              for i in range(0, len(self.windows), CHUNK)])
        return recording_share(features, self.recordings, self.labels)


def shortcut_probe_for(cfg: Config, data: DataBundle, split: str) -> ShortcutProbe | None:
    """The probe of an audio run with ``eval.shortcut_windows >= 2``; None otherwise."""
    if data.index.modality != "audio" or cfg.eval.shortcut_windows < 2:
        return None
    return ShortcutProbe(cfg, data, split)
