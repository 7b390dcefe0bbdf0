"""Synthesis of single syllables: frequency sweeps, trills, harmonic stacks and buzzes.

Tones are made by integrating an instantaneous-frequency track into a phase, so glides and
frequency modulation are smooth (no clicks), as in standard FM synthesis of bird song.
"""
from __future__ import annotations

import numpy as np
from scipy import fft

from .birdsong_species import MAX_FREQUENCY, SyllableType


def envelope(n: int, attack: float = 0.15) -> np.ndarray:
    """Amplitude envelope ``[n]``: raised-cosine attack and release, each ``attack`` of n."""
    ramp = max(1, int(n * attack))
    env = np.ones(n, dtype=np.float64)
    rise = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, ramp))
    env[:ramp] = rise
    env[n - ramp :] = rise[::-1]
    return env


def glide(f_start: float, f_end: float, n: int, exponential: bool) -> np.ndarray:
    """Frequency track ``[n]`` in Hz from f_start to f_end, linear or exponential in time."""
    t = np.linspace(0.0, 1.0, n)
    if exponential:
        return f_start * (f_end / f_start) ** t
    return f_start + (f_end - f_start) * t


def phase_of(freq: np.ndarray, sample_rate: int) -> np.ndarray:
    """Phase ``[n]`` (radians) of a tone with instantaneous frequency ``freq`` ``[n]``."""
    return 2.0 * np.pi * np.cumsum(freq) / sample_rate


def band_noise(n: int, f_centre: float, bandwidth: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """White noise band-passed to ``f_centre +- bandwidth/2`` in the frequency domain, ``[n]``."""
    m = fft.next_fast_len(n, real=True)  # FFT-friendly length, cut to n below
    spectrum = fft.rfft(rng.standard_normal(m))
    freqs = fft.rfftfreq(m, 1.0 / sample_rate)
    # Gaussian passband: a smooth mask avoids long ringing from a brick-wall filter.
    spectrum *= np.exp(-0.5 * ((freqs - f_centre) / (bandwidth / 2.0)) ** 2)
    noise = fft.irfft(spectrum, m)[:n]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def synthesize(
    syllable: SyllableType, pitch: float, duration: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """One syllable ``[round(duration * sample_rate)]`` float64, peak ~``syllable.gain``.

    pitch: multiplies every frequency (individual variation). duration: seconds, already
    jittered by the caller.
    """
    n = max(8, int(round(duration * sample_rate)))
    f_start = min(syllable.f_start * pitch, MAX_FREQUENCY)
    f_end = min(syllable.f_end * pitch, MAX_FREQUENCY)
    if syllable.kind == "sweep":
        wave = np.sin(phase_of(glide(f_start, f_end, n, syllable.exponential), sample_rate))
    elif syllable.kind == "trill":
        t = np.arange(n) / sample_rate
        freq = glide(f_start, f_end, n, False) + syllable.mod_depth * pitch * np.sin(
            2.0 * np.pi * syllable.mod_rate * t + rng.uniform(0.0, 2.0 * np.pi))
        wave = np.sin(phase_of(np.clip(freq, 200.0, MAX_FREQUENCY), sample_rate))
    elif syllable.kind == "harmonic":
        phase = phase_of(glide(f_start, f_end, n, True), sample_rate)  # [n]
        k = np.arange(1, len(syllable.harmonics) + 1)
        # Drop partials that would exceed MAX_FREQUENCY anywhere (they would alias).
        amps = np.where(k * max(f_start, f_end) < MAX_FREQUENCY, np.asarray(syllable.harmonics), 0.0)
        wave = amps @ np.sin(k[:, None] * phase[None, :])  # [K] @ [K, n] -> [n]
        wave /= np.abs(wave).max() + 1e-12
    elif syllable.kind == "buzz":
        t = np.arange(n) / sample_rate
        noise = band_noise(n, 0.5 * (f_start + f_end), syllable.mod_depth * pitch, sample_rate, rng)
        am = (0.5 + 0.5 * np.sin(2.0 * np.pi * syllable.mod_rate * t)) ** 2
        wave = 0.35 * noise * am
    else:
        raise ValueError(f"syllable kind {syllable.kind!r} is not sweep, trill, harmonic or buzz")
    return syllable.gain * wave * envelope(n)
