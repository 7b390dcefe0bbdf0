"""Geometric warps of the log-mel, batched with per-example random parameters.

``time_stretch`` resamples the time axis (a cheap time stretch that leaves pitch alone);
``spec_resized_crop`` is BYOL-A's random resized crop (Niizumi et al. 2021,
https://arxiv.org/abs/2103.06695, Sec. 3.3): a random time x frequency box stretched back
to the full size, which zooms in time and shifts/stretches pitch at once.

Both follow ``audio``'s conventions: parameters come from torch's global RNG on the input's
device and are drawn whatever p is (the RNG stream does not depend on the probabilities);
a gated-off example is returned bit-for-bit unchanged, and strength 0 (``max_stretch = 0``,
``scale_min = 1``) is the identity.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ssl_core.augment.audio import bernoulli_gate, skipped
from ssl_core.augment.image import crop_resize


def stretch_time(logmel: Tensor, rate: Tensor) -> Tensor:
    """Resample each example along time by its own ``rate``, about the clip's centre.

    Output frame t shows input position ``s = c + (t - c) * rate`` with ``c = (T - 1) / 2``,
    linearly interpolated between the two neighbouring frames. So an input frame f moves to
    ``c + (f - c) / rate``: ``rate > 1`` speeds up (content squeezed towards the centre, as
    torchaudio's ``TimeStretch`` rate), ``rate < 1`` slows down (the ends are cropped). Frames
    whose source lies outside the clip are unknown, so they take the example's mean, as a
    SpecAugment mask does (and as BYOL-A's zero padding of a pre-normalised log-mel does):
    the network sees one kind of "missing" region; the clip's minimum would be a band of
    values darker than any real noise floor, a new cue.
    Linear interpolation is exact at rate 1 (every s is an integer); compressing by up to
    ~1.5 without an anti-alias filter only blurs the time axis slightly.

    Args:
        logmel: [B, F, T] log-mel spectrograms.
        rate: [B] positive stretch rates.
    Returns:
        [B, F, T], same dtype and device.
    """
    batch, n_bands, n_frames = logmel.shape
    centre = (n_frames - 1) / 2.0
    t = torch.arange(n_frames, device=logmel.device, dtype=logmel.dtype)
    source = centre + (t[None, :] - centre) * rate.to(logmel.dtype)[:, None]  # [B, T]
    valid = (source >= 0) & (source <= n_frames - 1)
    lower = source.floor()
    weight = (source - lower)[:, None, :]  # [B, 1, T]; 0 where source is an integer
    i0 = lower.long().clamp(0, n_frames - 1)
    i1 = (i0 + 1).clamp(max=n_frames - 1)
    left = logmel.gather(2, i0[:, None, :].expand(-1, n_bands, -1))
    right = logmel.gather(2, i1[:, None, :].expand(-1, n_bands, -1))
    moved = left + weight * (right - left)
    fill = logmel.mean(dim=(1, 2), keepdim=True)
    return torch.where(valid[:, None, :], moved, fill)


def time_stretch(logmel: Tensor, p: float, max_stretch: float) -> Tensor:
    """Time stretch with probability p; rate ~ U(1 - max_stretch, 1 + max_stretch) per example.

    See ``stretch_time`` for the geometry. [B, F, T] -> [B, F, T].
    """
    if not 0.0 <= max_stretch < 1.0:
        raise ValueError(f"max_stretch must be in [0, 1) so the rate stays positive, got {max_stretch!r}")
    batch = logmel.shape[0]
    gate = bernoulli_gate(batch, p, logmel.device)
    rate = 1.0 + (torch.rand(batch, device=logmel.device) * 2.0 - 1.0) * max_stretch
    if skipped(p):
        return logmel
    return torch.where(gate[:, None, None], stretch_time(logmel, rate), logmel)


def sample_spec_boxes(batch: int, n_bands: int, n_frames: int, scale_min: float, device: torch.device) -> Tensor:
    """Random crop boxes ``[B, 4]`` (x1, y1, x2, y2) = (time start, band start, time end, band end).

    Per example the area fraction is ``a ~ U(scale_min, 1)`` and it is split between the axes
    as ``time fraction = a**u``, ``freq fraction = a**(1 - u)`` with ``u ~ U(0, 1)``: both are
    <= 1, so every draw fits without the rejection loop of an image crop, and the box's
    relative aspect is log-uniform in ``[a, 1 / a]``. The offset is uniform over the
    positions where the box fits. ``scale_min = 1`` gives the whole spectrogram exactly.
    """
    area = scale_min + (1.0 - scale_min) * torch.rand(batch, device=device)
    split = torch.rand(batch, device=device)
    width = n_frames * area.pow(split)
    height = n_bands * area.pow(1.0 - split)
    x1 = torch.rand(batch, device=device) * (n_frames - width)
    y1 = torch.rand(batch, device=device) * (n_bands - height)
    return torch.stack([x1, y1, x1 + width, y1 + height], dim=1)


def spec_resized_crop(logmel: Tensor, p: float, scale_min: float) -> Tensor:
    """BYOL-A random resized crop with probability p: crop a random box and resize it back.

    The box comes from ``sample_spec_boxes`` (area fraction in ``[scale_min, 1]``) and is
    resampled bilinearly to the full ``F x T`` by ``image.crop_resize`` (``roi_align``),
    which for the whole-spectrogram box returns the input unchanged. BYOL-A also allows
    "virtual" crops larger than the input (zoom out, padded); here crops only zoom in.

    Args:
        logmel: [B, F, T] log-mel spectrograms.
    Returns:
        [B, F, T].
    """
    if not 0.0 < scale_min <= 1.0:
        raise ValueError(f"scale_min must be in (0, 1], got {scale_min!r}")
    batch, n_bands, n_frames = logmel.shape
    gate = bernoulli_gate(batch, p, logmel.device)
    boxes = sample_spec_boxes(batch, n_bands, n_frames, scale_min, logmel.device)
    if skipped(p):
        return logmel
    cropped = crop_resize(logmel.unsqueeze(1), boxes, (n_bands, n_frames)).squeeze(1)
    return torch.where(gate[:, None, None], cropped, logmel)
