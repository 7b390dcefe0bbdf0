"""Real encoded files for the dataset-format tests: audio written with soundfile, images with
PIL, CSV manifests with the csv module."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image

# (format, subtype, sample rate, channels): every audio file of a test cycles through these.
AUDIO_KINDS = {
    ".ogg": ("OGG", "VORBIS", 22050, 1),
    ".flac": ("FLAC", "PCM_16", 32000, 1),
    ".wav": ("WAV", "PCM_16", 44100, 2),  # the stereo one
    ".mp3": ("MP3", "MPEG_LAYER_III", 22050, 1),
}


def write_audio(path: Path, seed: int = 0) -> tuple[int, int]:
    """A short real audio file whose kind follows its extension; returns (rate, channels)."""
    fmt, subtype, rate, channels = AUDIO_KINDS[path.suffix.lower()]
    t = np.arange(int(0.2 * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * (800 + 100 * seed) * t)
    data = np.stack([wave, 0.5 * wave], axis=1) if channels == 2 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, data.astype(np.float32), rate, format=fmt, subtype=subtype)
    return rate, channels


def write_image(path: Path, seed: int = 0, gray: bool = False, size: tuple[int, int] = (5, 4)) -> tuple[int, int]:
    """A small real PNG / JPEG / WebP (from the extension) of ``size`` (width, height); returns it.

    One size by default: a dataset's images must share size and mode (``image_headers.py``)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0]) if gray else (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format={".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG",
                                               ".webp": "WEBP"}[path.suffix.lower()])
    return size


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
