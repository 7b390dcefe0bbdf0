"""Level shaping over time (fader) and over frequency (filters), per example.

``random_fader`` is BYOL-A v2's random linear fader (Niizumi et al. 2023,
https://arxiv.org/abs/2204.07402): a source that approaches or recedes during the clip.
``random_filter`` is a random low-, high- or band-pass applied as a smooth gain per mel
band: a different microphone, distance or obstacle, so the network cannot identify a
recording by its channel colour.

Conventions as in ``audio``: global RNG on the input's device, parameters drawn whatever p
is, gated-off examples returned unchanged, 0 dB is the identity.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ssl_core.augment.audio import bernoulli_gate, skipped

FILTER_KINDS = ("lowpass", "highpass", "bandpass")  # kind codes 0, 1, 2 in ``filter_gains_db``
TRANSITION_OCTAVES = 1.0  # width of the raised-cosine roll-off from 0 dB to full attenuation
BAND_HALF_OCTAVES = 1.0  # a band-pass keeps [cutoff / 2**h, cutoff * 2**h]: two octaves around its cutoff


def fade_with(wave: Tensor, gain_db: Tensor) -> Tensor:
    """Linear ramp in dB across the clip: sample t gets ``g * (t / (T - 1) - 1/2)`` dB.

    The first sample is at ``-g / 2`` dB and the last at ``+g / 2``, so the level change
    across the clip is ``g`` dB and the clip's middle keeps its level; a negative ``g`` fades
    out. Amplitudes are scaled by ``10 ** (dB / 20)``.

    Args:
        wave: [B, T] waveforms.
        gain_db: [B] level change across the clip in dB (0 = unchanged).
    Returns:
        [B, T].
    """
    n = wave.shape[-1]
    position = torch.arange(n, device=wave.device, dtype=wave.dtype) / max(n - 1, 1) - 0.5  # [T]
    ramp_db = gain_db.to(wave.dtype)[:, None] * position[None, :]
    return wave * torch.pow(10.0, ramp_db / 20.0)


def random_fader(wave: Tensor, p: float, max_db: float) -> Tensor:
    """Fade in or out with probability p: ``|g| ~ U(0, max_db)``, direction 50/50, per example.

    ``g = (2u - 1) * max_db`` with ``u ~ U(0, 1)`` is one draw with exactly that law.
    [B, T] -> [B, T]; see ``fade_with``.
    """
    batch = wave.shape[0]
    gate = bernoulli_gate(batch, p, wave.device)
    gain_db = (torch.rand(batch, device=wave.device) * 2.0 - 1.0) * max_db
    if skipped(p):
        return wave
    return torch.where(gate[:, None], fade_with(wave, gain_db), wave)


def mel_band_centres(n_mels: int, f_min: float, f_max: float) -> Tensor:
    """Centre frequency in Hz of each triangular mel band, ``[n_mels]`` float32.

    The HTK mel scale ``m = 2595 log10(1 + f / 700)`` that torchaudio's ``MelSpectrogram``
    uses by default: ``n_mels + 2`` points equally spaced in mel between f_min and f_max;
    band i peaks at point i + 1.
    """
    def to_mel(f: float) -> float:
        return 2595.0 * math.log10(1.0 + f / 700.0)

    mels = torch.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2, dtype=torch.float64)[1:-1]
    return (700.0 * (torch.pow(10.0, mels / 2595.0) - 1.0)).float()


def _rolloff(octaves_past: Tensor) -> Tensor:
    """0 before the edge, raised cosine up to 1 over ``TRANSITION_OCTAVES``, 1 after."""
    u = (octaves_past / TRANSITION_OCTAVES).clamp(0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(math.pi * u)


def filter_gains_db(centres: Tensor, kind: Tensor, cutoff: Tensor, attenuation_db: Tensor) -> Tensor:
    """Gain in dB of each mel band for each example's filter, ``[B, F]`` (<= 0).

    With ``o = log2(f / cutoff)`` octaves from the cutoff and ``r`` the raised-cosine
    roll-off (0 at the edge, full after ``TRANSITION_OCTAVES``):
    low-pass ``-A r(o)``; high-pass ``-A r(-o)``; band-pass ``-A max(r(o - h), r(-o - h))``
    with ``h = BAND_HALF_OCTAVES``. Bands inside the pass band get exactly 0 dB; bands beyond
    the roll-off exactly ``-A``. The shape is smooth, not a brick wall, because a real
    channel rolls off gradually and a hard edge would be a trivial cue.

    Args:
        centres: [F] band centre frequencies in Hz (> 0).
        kind: [B] long, 0 low-pass, 1 high-pass, 2 band-pass (``FILTER_KINDS``).
        cutoff: [B] cutoff (band-pass: centre) frequencies in Hz.
        attenuation_db: [B] stop-band attenuation A >= 0 in dB.
    """
    octaves = torch.log2(centres[None, :] / cutoff[:, None])  # [B, F]
    low = _rolloff(octaves)
    high = _rolloff(-octaves)
    band = torch.maximum(_rolloff(octaves - BAND_HALF_OCTAVES), _rolloff(-octaves - BAND_HALF_OCTAVES))
    shape = torch.where((kind == 0)[:, None], low, torch.where((kind == 1)[:, None], high, band))
    return -attenuation_db[:, None] * shape


def apply_band_gains(power: Tensor, gain_db: Tensor) -> Tensor:
    """Scale mel power ``[B, F, T]`` by ``10 ** (gain_db / 10)`` per band (``gain_db: [B, F]``)."""
    return power * torch.pow(10.0, gain_db.to(power.dtype) / 10.0)[:, :, None]


def random_filter(power: Tensor, p: float, max_db: float, centres: Tensor) -> Tensor:
    """Random low / high / band-pass with probability p on the mel power spectrogram.

    Per example: a kind uniform over ``FILTER_KINDS``, a cutoff log-uniform between the
    lowest and highest band centre (equal odds per octave, as pitch is perceived), and an
    attenuation ``A ~ U(0, max_db)``; see ``filter_gains_db`` for the shape.

    Args:
        power: [B, F, T] mel power spectrograms (linear, before the log).
        centres: [F] band centres in Hz (``mel_band_centres``).
    Returns:
        [B, F, T].
    """
    batch = power.shape[0]
    device = power.device
    centres = centres.to(device=device, dtype=torch.float32)
    gate = bernoulli_gate(batch, p, device)
    kind = torch.randint(0, len(FILTER_KINDS), (batch,), device=device)
    low, high = centres[0].log(), centres[-1].log()  # tensors: no host sync on CUDA
    cutoff = torch.exp(low + (high - low) * torch.rand(batch, device=device))
    attenuation = torch.rand(batch, device=device) * max_db
    if skipped(p):
        return power
    gains = filter_gains_db(centres, kind, cutoff, attenuation)
    return torch.where(gate[:, None, None], apply_band_gains(power, gains), power)
