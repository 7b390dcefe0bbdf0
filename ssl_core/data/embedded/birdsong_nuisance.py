"""Recording conditions: what differs between recordings of the same species.

Each effect is strong on purpose, so that a poor SSL configuration can separate recordings by
their noise colour, level, microphone, room and hum instead of by species.
"""
from __future__ import annotations

import numpy as np
from scipy import fft
from scipy.signal import fftconvolve


def coloured_noise(n: int, beta: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise ``[n]`` with power spectrum ~ 1/f^beta (0 white, 1 pink, 2 brown)."""
    # Generate at an FFT-friendly length and cut: a random length can have a large prime
    # factor, which makes the FFT many times slower.
    m = fft.next_fast_len(n, real=True)
    spectrum = fft.rfft(rng.standard_normal(m))
    freqs = fft.rfftfreq(m, 1.0 / sample_rate)
    spectrum *= np.maximum(freqs, 20.0) ** (-beta / 2.0)  # floor at 20 Hz: no infinite DC
    spectrum[0] = 0.0
    noise = fft.irfft(spectrum, m)[:n]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def hum(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS mains hum ``[n]``: 50 or 60 Hz plus a few harmonics with random levels."""
    base = 50.0 if rng.random() < 0.5 else 60.0
    t = np.arange(n) / sample_rate
    k = np.arange(1, 7)
    amps = rng.uniform(0.0, 1.0, k.size) * 0.7 ** (k - 1)
    amps[0] = 1.0
    phases = rng.uniform(0.0, 2.0 * np.pi, k.size)
    signal = amps @ np.sin(2.0 * np.pi * base * k[:, None] * t[None, :] + phases[:, None])
    return signal / (np.sqrt(np.mean(signal**2)) + 1e-12)


def microphone_eq(x: np.ndarray, sample_rate: int, rng: np.random.Generator,
                  drawn: dict[str, float] | None = None) -> np.ndarray:
    """Apply a random smooth microphone response to ``x`` ``[n]`` (zero phase, in frequency).

    Gain in dB = tilt * log2(f / 1 kHz) + two Gaussian bumps in log-frequency (peaking
    filters, +-9 dB, 0.3-1.5 octaves wide) + a random low-cut below 80-400 Hz. ``drawn`` (when
    given) receives the tilt and the low-cut, the same draws in the same order.
    """
    n = x.shape[0]
    m = fft.next_fast_len(n, real=True)  # zero-padded to an FFT-friendly length
    freqs = np.maximum(fft.rfftfreq(m, 1.0 / sample_rate), 1.0)
    octaves = np.log2(freqs / 1000.0)
    tilt = rng.uniform(-4.0, 4.0)
    gain_db = tilt * octaves
    for _ in range(2):
        centre = np.log2(rng.uniform(0.2, 7.0))  # octaves re 1 kHz
        gain_db += rng.uniform(-9.0, 9.0) * np.exp(-0.5 * ((octaves - centre) / rng.uniform(0.3, 1.5)) ** 2)
    gain_db = np.clip(gain_db, -30.0, 15.0)
    low_cut = rng.uniform(80.0, 400.0)
    if drawn is not None:
        drawn.update(eq_tilt_db_per_octave=float(tilt), low_cut_hz=float(low_cut))
    response = 10 ** (gain_db / 20) / np.sqrt(1.0 + (low_cut / freqs) ** 4)  # 2nd-order high-pass magnitude
    return fft.irfft(fft.rfft(x, m) * response, m)[:n]


def room_impulse_response(sample_rate: int, rng: np.random.Generator,
                          drawn: dict[str, float] | None = None) -> np.ndarray:
    """Impulse response ``[L]`` float64, ``L = int(RT60 * sample_rate)``: direct sound
    (``ir[0] = 1``), 0-4 discrete echoes (10-150 ms, and before ``L``) and an exponentially
    decaying noise tail with RT60 0.1-1.0 s.

    The tail is scaled to a direct-to-reverberant energy ratio of -3..15 dB: from a dry open
    field to a bird far away in dense forest, whose trills smear into a blur.
    """
    rt60 = rng.uniform(0.1, 1.0)
    if drawn is not None:
        drawn["rt60_s"] = float(rt60)
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    # -60 dB at rt60: amplitude exp(-6.9 t / rt60).
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail *= 10 ** (-rng.uniform(-3.0, 15.0) / 20) / np.sqrt(np.sum(tail**2))
    ir = tail
    ir[0] = 1.0
    for _ in range(int(rng.integers(0, 5))):
        delay = rng.uniform(0.01, min(0.15, rt60))
        ir[_echo_index(delay, sample_rate, length)] += rng.uniform(0.1, 0.6)
    return ir


def _echo_index(delay: float, sample_rate: int, length: int) -> int:
    """Sample index of an echo ``delay`` seconds after the direct sound, inside ``[0, length)``.

    When RT60 < 0.15 s a delay drawn just below RT60 can round to ``length`` (``delay *
    sample_rate`` and ``rt60 * sample_rate`` truncate to the same integer): that echo goes on
    the last sample instead. Clipping rather than redrawing keeps every other output and the
    RNG draw order unchanged, so the embedded datasets stay byte-identical.
    """
    return min(int(delay * sample_rate), length - 1)


def reverberate(x: np.ndarray, sample_rate: int, rng: np.random.Generator,
                drawn: dict[str, float] | None = None) -> np.ndarray:
    """``x`` ``[n]`` convolved with a random room impulse response, cut to ``[n]``."""
    return fftconvolve(x, room_impulse_response(sample_rate, rng, drawn))[: x.shape[0]]
