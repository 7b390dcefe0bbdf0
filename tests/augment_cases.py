"""Shared inputs and view-maker builders for the augmentation tests."""


from __future__ import annotations

import math

import torch

from ssl_core.augment import AudioViewMaker, ImageViewMaker
from ssl_core.config import AugmentConfig, FrontendConfig

SR = 16000
SAMPLES = 4000
FRONTEND = FrontendConfig(n_mels=32, n_fft=256, hop_length=64, normalize="none")
FRAMES = SAMPLES // FRONTEND.hop_length + 1
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

AUDIO_OFF = dict(gain_p=0.0, noise_p=0.0, mix_p=0.0, pitch_shift_p=0.0, time_mask_p=0.0, freq_mask_p=0.0,
                 time_stretch_p=0.0, spec_crop_p=0.0, fader_p=0.0, filter_p=0.0)
AUDIO_AUGS = {
    "gain": "gain_p",
    "noise": "noise_p",
    "mix": "mix_p",
    "pitch_shift": "pitch_shift_p",
    "time_mask": "time_mask_p",
    "freq_mask": "freq_mask_p",
    "time_stretch": "time_stretch_p",
    "spec_crop": "spec_crop_p",
    "fader": "fader_p",
    "filter": "filter_p",
}
IMAGE_OFF = dict(crop_scale_min=1.0, flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, solarize_p=0.0)
IMAGE_AUGS = {  # name -> (setting that enables it at "probability 1", probability for per-example checks)
    "crop": ({"crop_scale_min": 0.25}, {"crop_scale_min": 0.25}),
    "flip": ({"flip_p": 1.0}, {"flip_p": 0.5}),
    "jitter": ({"jitter_p": 1.0}, {"jitter_p": 1.0}),
    "grayscale": ({"grayscale_p": 1.0}, {"grayscale_p": 0.5}),
    "blur": ({"blur_p": 1.0}, {"blur_p": 1.0}),
    "solarize": ({"solarize_p": 1.0}, {"solarize_p": 0.5}),
}


def audio_maker(frontend: FrontendConfig = FRONTEND, **overrides) -> AudioViewMaker:
    return AudioViewMaker(AugmentConfig(**{**AUDIO_OFF, **overrides}), frontend, SR)


def image_maker(size: int = 32, **overrides) -> ImageViewMaker:
    return ImageViewMaker(AugmentConfig(**{**IMAGE_OFF, **overrides}), size)


def make_waves(batch: int, views: int = 2, seed: int = 0) -> torch.Tensor:
    """[B, V, T]: a sine of random pitch and level plus a little noise per crop."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(SAMPLES) / SR
    freq = 300 + 5000 * torch.rand(batch, views, 1, generator=g)
    level = 0.05 + 0.5 * torch.rand(batch, views, 1, generator=g)
    return level * torch.sin(2 * math.pi * freq * t) + 0.01 * torch.randn(batch, views, SAMPLES, generator=g)


def make_images(batch: int, channels: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8, generator=g)


def distinct_rows(x: torch.Tensor) -> int:
    return len({tuple(row.tolist()) for row in x.reshape(x.shape[0], -1)})
