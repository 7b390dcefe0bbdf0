"""Batched audio augmentations with per-example random parameters.

Every function draws its parameters from torch's global RNG on the input's device, so
``torch.manual_seed`` fixes them and the trainer can checkpoint the RNG state. Each is
gated per example by a Bernoulli(p) draw; an example whose gate is off is returned
bit-for-bit unchanged (``torch.where``), so p = 0 is exactly the identity. Parameters are
drawn whatever p is, which keeps the RNG stream independent of the probabilities; with
p = 0 (``skipped(p)``) the work after the draws is skipped and the input returned as is,
the same values ``torch.where`` would give, at none of the cost (several default
augmentations are off, and on a CPU their unused work was most of the view maker's time).

Waveform-domain: ``random_gain``, ``add_white_noise``. Linear mel-power domain:
``mix_background`` (BYOL-A). Log-mel domain: ``pitch_shift``, ``time_mask``,
``freq_mask`` (SpecAugment), ``random_time_crop`` (multi-crop local views).
``audio_level`` adds the fader (waveform) and filters (mel power); ``audio_warp`` the time
stretch and random resized crop (log-mel).

Why no ``torch.Generator`` argument: the SpecAugment masks use torchaudio's
``mask_along_axis_iid``, which can only draw from the global RNG, so a generator could
not make every step independent of it; one stream for all steps is simpler to seed and
to checkpoint.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import Tensor


def bernoulli_gate(batch: int, p: float, device: torch.device) -> Tensor:
    """``[batch]`` bool, each True with probability p (rand in [0, 1) so p=0 never, p=1 always)."""
    return torch.rand(batch, device=device) < p


def skipped(p: float) -> bool:
    """Whether every gate of probability p is off (p <= 0): the caller returns its input unchanged.

    A Python check, so no host-device sync; callers make it after their random draws.
    """
    return p <= 0.0


def random_gain(wave: Tensor, p: float, max_db: float) -> Tensor:
    """Scale each example by a gain uniform in [-max_db, max_db] dB.

    Args:
        wave: [B, T] waveforms.
    Returns:
        [B, T]. Under instance normalisation a gain alone is undone; it still matters
        because it changes an example's level relative to the background it is mixed with.
    """
    batch = wave.shape[0]
    gate = bernoulli_gate(batch, p, wave.device)
    db = (torch.rand(batch, device=wave.device) * 2.0 - 1.0) * max_db
    if skipped(p):
        return wave
    factor = torch.pow(10.0, db / 20.0).to(wave.dtype)
    return torch.where(gate[:, None], wave * factor[:, None], wave)


def add_white_noise(wave: Tensor, p: float, snr_db: float) -> Tensor:
    """Add Gaussian white noise at ``snr_db`` relative to each example's own mean power.

    ``noise_power = mean(wave**2) / 10**(snr_db / 10)``, per example; a silent example
    stays silent (its noise power is 0).

    Args:
        wave: [B, T] waveforms.
    Returns:
        [B, T].
    """
    batch = wave.shape[0]
    gate = bernoulli_gate(batch, p, wave.device)
    if skipped(p):
        torch.randn_like(wave)  # the noise draw, so the RNG stream does not depend on p
        return wave
    signal_power = wave.pow(2).mean(dim=-1, keepdim=True)  # [B, 1]
    noise_std = torch.sqrt(signal_power * 10.0 ** (-snr_db / 10.0))
    noise = torch.randn_like(wave) * noise_std
    return torch.where(gate[:, None], wave + noise, wave)


def mix_with(power: Tensor, weight: Tensor, partner: Tensor) -> Tensor:
    """Convex mix in the linear power domain: ``(1 - w_b) * power[b] + w_b * power[partner[b]]``.

    Args:
        power: [B, F, T] mel power spectrograms (before the log).
        weight: [B] mixing weights in [0, 1]; 0 leaves the example exactly unchanged.
        partner: [B] long, index of the background example for each example.
    Returns:
        [B, F, T].
    """
    w = weight.to(power.dtype)[:, None, None]
    return (1.0 - w) * power + w * power.index_select(0, partner)


def mix_background(power: Tensor, p: float, max_ratio: float) -> Tensor:
    """BYOL-A's random mix (Niizumi et al. 2021, Sec. 3.2) with another example of the batch.

    BYOL-A computes ``log((1 - l) exp(x) + l exp(z))`` on log-mels, i.e. a convex mix of
    linear powers, with ``l ~ U(0, max_ratio)`` and ``z`` a background drawn from a
    memory bank of past inputs; here the background is another example of the same batch
    (a roll of the batch by a random shift in [1, B - 1], so never the example itself).
    The convex form keeps the overall level, and with instance normalisation it equals
    ``x + l / (1 - l) * z`` up to a removed constant.

    Args:
        power: [B, F, T] mel power spectrograms. With B = 1 there is no other example
            and the input is returned unchanged.
    Returns:
        [B, F, T].
    """
    batch = power.shape[0]
    gate = bernoulli_gate(batch, p, power.device)
    weight = torch.rand(batch, device=power.device) * max_ratio
    if batch < 2:
        return power
    shift = torch.randint(1, batch, (1,), device=power.device)
    if skipped(p):
        return power
    partner = (torch.arange(batch, device=power.device) + shift) % batch
    return mix_with(power, torch.where(gate, weight, torch.zeros_like(weight)), partner)


def pitch_shift(logmel: Tensor, p: float, max_bins: int) -> Tensor:
    """Shift each example along the mel axis by an integer in [-max_bins, max_bins].

    A cheap pitch shift on the spectrogram: positive shifts move content to higher mel
    bands. Vacated bands take the example's minimum (its quietest value) instead of
    wrapping round, which would put high-frequency energy at the bottom.

    Args:
        logmel: [B, F, T] log-mel spectrograms.
    Returns:
        [B, F, T].
    """
    batch, n_bands, n_frames = logmel.shape
    gate = bernoulli_gate(batch, p, logmel.device)
    shift = torch.randint(-max_bins, max_bins + 1, (batch,), device=logmel.device)
    if skipped(p):
        return logmel
    shift = torch.where(gate, shift, torch.zeros_like(shift))
    source = torch.arange(n_bands, device=logmel.device)[None, :] - shift[:, None]  # [B, F]
    valid = (source >= 0) & (source < n_bands)
    index = source.clamp(0, n_bands - 1)[:, :, None].expand(-1, -1, n_frames)
    moved = logmel.gather(1, index)
    floor = logmel.amin(dim=(1, 2), keepdim=True)
    return torch.where(valid[:, :, None], moved, floor)


def _band_mask(logmel: Tensor, p: float, max_width: int, axis: int) -> Tensor:
    """Mask one random band of width in [0, max_width] along ``axis`` (1 = mel, 2 = time).

    Positions come from ``torchaudio.functional.mask_along_axis_iid`` (a different band per
    example) applied to a ones template; its ``p`` argument is a width cap, not a
    probability, so the per-example probability is a separate Bernoulli gate. Masked
    values are set to the example's mean, which becomes ~0 after standardisation, as in
    SpecAugment (Park et al. 2019, https://arxiv.org/abs/1904.08779).
    """
    batch, n_bands, n_frames = logmel.shape
    size = logmel.shape[axis]
    gate = bernoulli_gate(batch, p, logmel.device)
    # mask_along_axis_iid draws widths as floor(U(0, mask_param)), i.e. 0..mask_param-1.
    mask_param = min(max_width + 1, size)
    if mask_param < 2:
        return logmel
    shape = (batch, 1, n_frames) if axis == 2 else (batch, n_bands, 1)
    template = torch.ones(shape, device=logmel.device, dtype=logmel.dtype)
    band = torchaudio.functional.mask_along_axis_iid(template, mask_param, 0.0, axis) == 0
    if skipped(p):
        return logmel
    masked = band & gate[:, None, None]
    fill = logmel.mean(dim=(1, 2), keepdim=True)
    return torch.where(masked, fill, logmel)


def time_mask(logmel: Tensor, p: float, max_frames: int) -> Tensor:
    """SpecAugment time mask: per example, up to ``max_frames`` consecutive frames. [B, F, T] -> [B, F, T]."""
    return _band_mask(logmel, p, max_frames, axis=2)


def freq_mask(logmel: Tensor, p: float, max_bins: int) -> Tensor:
    """SpecAugment frequency mask: per example, up to ``max_bins`` consecutive mel bands. [B, F, T] -> [B, F, T]."""
    return _band_mask(logmel, p, max_bins, axis=1)


def random_time_crop(logmel: Tensor, length: int) -> Tensor:
    """Per-example random window of ``length`` frames: [B, F, T] -> [B, F, length]."""
    batch, n_bands, n_frames = logmel.shape
    if not 1 <= length <= n_frames:
        raise ValueError(f"crop length must be in [1, {n_frames}] frames, got {length}")
    offset = torch.randint(0, n_frames - length + 1, (batch,), device=logmel.device)
    index = offset[:, None] + torch.arange(length, device=logmel.device)[None, :]  # [B, L]
    return logmel.gather(2, index[:, None, :].expand(-1, n_bands, -1))
