"""Decoding an audio file to a mono float32 waveform at a target sample rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional


def decode_mono(path: Path, sample_rate: int) -> np.ndarray:
    """Decode ``path`` (any format libsndfile reads: WAV, FLAC, OGG Vorbis...) to ``[T]`` float32.

    Channels are averaged (downmix), and the signal is resampled with
    ``torchaudio.functional.resample`` (windowed-sinc) when the file's rate differs.
    """
    wave, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    wave = wave.mean(axis=1, dtype=np.float32)
    if file_rate != sample_rate:
        wave = torchaudio.functional.resample(torch.from_numpy(wave), file_rate, sample_rate).numpy()
    if wave.size == 0:
        raise ValueError(f"{path}: the file holds no audio samples")
    return np.ascontiguousarray(wave, dtype=np.float32)
