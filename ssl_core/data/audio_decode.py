"""Decoding an audio file to a mono float32 waveform at a target sample rate.

Files that cannot give audio raise :class:`UndecodableAudio` with a short reason, so a caller
(the decode cache's skip report) can list them instead of crashing a run.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional


class UndecodableAudio(ValueError):
    """The file's *content* gives no usable audio (empty, not audio, corrupt, no samples, NaN).

    Content-determined: decoding the same bytes again fails the same way, so the decode cache
    remembers it (until the file's size or modification time changes). A file that is missing
    or unreadable raises ``OSError`` instead, because that can change without the bytes changing.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def decode_mono(path: Path | str, sample_rate: int) -> np.ndarray:
    """Decode ``path`` (any format libsndfile reads: WAV, FLAC, OGG Vorbis...) to ``[T]`` float32.

    Channels are averaged (downmix), and the signal is resampled with
    ``torchaudio.functional.resample`` (windowed-sinc) when the file's rate differs.
    Raises :class:`UndecodableAudio` for empty, non-audio, corrupt or truncated files and
    ``OSError`` for missing or unreadable ones.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate {sample_rate} must be > 0")
    path = str(path)
    if os.stat(path).st_size == 0:
        raise UndecodableAudio(path, "empty file (0 bytes)")
    # Opening with Python first turns a permission problem into PermissionError (an OSError that
    # may be fixed without touching the bytes) rather than libsndfile's generic "System error".
    with open(path, "rb"):
        pass
    try:
        sound = soundfile.SoundFile(path)
    except soundfile.LibsndfileError as error:
        raise UndecodableAudio(path, f"not audio or unsupported format ({error.error_string})") from error
    with sound:
        file_rate = sound.samplerate
        try:
            wave = sound.read(dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as error:
            # e.g. FLAC cut short: "flac decoder lost sync". A truncated OGG instead decodes its
            # complete pages silently (0 samples when only the headers survive).
            raise UndecodableAudio(path, f"corrupt or truncated ({error.error_string})") from error
    if wave.shape[0] == 0:
        raise UndecodableAudio(path, "no audio samples (empty or truncated stream)")
    wave = wave.mean(axis=1, dtype=np.float32)
    if not np.isfinite(wave).all():
        # A NaN in one crop makes the loss NaN and stops the whole run; drop the file instead.
        raise UndecodableAudio(path, "non-finite samples (NaN or inf)")
    if file_rate != sample_rate:
        wave = torchaudio.functional.resample(torch.from_numpy(wave), file_rate, sample_rate).numpy()
        if wave.size == 0:
            raise UndecodableAudio(path, f"too short to resample from {file_rate} to {sample_rate} Hz")
    return np.ascontiguousarray(wave, dtype=np.float32)
