"""Range checks for augmentation settings: each raises ValueError naming the field and the allowed range."""

from __future__ import annotations

import math

from ssl_core.config import AugmentConfig


def check_probability(name: str, value: float) -> None:
    """``value`` must be a number in [0, 1]."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    """``value`` must be a finite number >= 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (0.0 <= value < math.inf):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_non_negative_int(name: str, value: int) -> None:
    """``value`` must be an integer >= 0."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def check_in_range(name: str, value: float, low: float, high: float, allowed: str, *,
                   include_low: bool = True, include_high: bool = True) -> None:
    """``value`` must be a number between low and high (ends included as flagged); ``allowed`` is shown."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        ok = (value >= low if include_low else value > low) and (value <= high if include_high else value < high)
    if not ok:
        raise ValueError(f"{name} must be in {allowed}, got {value!r}")


def check_multicrop(cfg: AugmentConfig) -> None:
    """``num_local_crops >= 0`` and ``local_crop_fraction`` in (0, 1]."""
    check_non_negative_int("augment.num_local_crops", cfg.num_local_crops)
    fraction = cfg.local_crop_fraction
    if not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
        raise ValueError(f"augment.local_crop_fraction must be in (0, 1], got {fraction!r}")


def check_audio(cfg: AugmentConfig) -> None:
    """Validate the audio fields of ``cfg`` (probabilities, strengths, multi-crop)."""
    for name in ("gain_p", "noise_p", "mix_p", "pitch_shift_p", "time_mask_p", "freq_mask_p",
                 "time_stretch_p", "spec_crop_p", "fader_p", "filter_p"):
        check_probability(f"augment.{name}", getattr(cfg, name))
    for name in ("gain_db", "fader_db", "filter_db"):
        check_non_negative(f"augment.{name}", getattr(cfg, name))
    check_in_range("augment.time_stretch_max", cfg.time_stretch_max, 0.0, 1.0, "[0, 1) so the rate stays positive",
                   include_high=False)
    check_in_range("augment.spec_crop_scale_min", cfg.spec_crop_scale_min, 0.0, 1.0, "(0, 1]", include_low=False)
    if not isinstance(cfg.noise_snr_db, (int, float)) or math.isnan(cfg.noise_snr_db):
        raise ValueError(f"augment.noise_snr_db must be a number of dB (inf = no noise), got {cfg.noise_snr_db!r}")
    if not isinstance(cfg.mix_ratio, (int, float)) or not 0.0 <= cfg.mix_ratio <= 1.0:
        raise ValueError(f"augment.mix_ratio must be in [0, 1], got {cfg.mix_ratio!r}")
    for name in ("pitch_shift_bins", "time_mask_frames", "freq_mask_bins"):
        check_non_negative_int(f"augment.{name}", getattr(cfg, name))
    check_multicrop(cfg)


def check_image(cfg: AugmentConfig) -> None:
    """Validate the image fields of ``cfg`` (probabilities, strengths, crop scale, multi-crop)."""
    for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
        check_probability(f"augment.{name}", getattr(cfg, name))
    check_non_negative("augment.jitter_strength", cfg.jitter_strength)
    check_in_range("augment.crop_ratio_max", cfg.crop_ratio_max, 1.0, math.inf, "[1, inf)", include_high=False)
    check_in_range("augment.blur_sigma_max", cfg.blur_sigma_max, 0.1, 10.0, "[0.1, 10]")
    if not isinstance(cfg.crop_scale_min, (int, float)) or not 0.0 < cfg.crop_scale_min <= 1.0:
        raise ValueError(f"augment.crop_scale_min must be in (0, 1], got {cfg.crop_scale_min!r}")
    check_multicrop(cfg)
