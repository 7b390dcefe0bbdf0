"""On-device input front ends: waveform -> normalised log-mel, uint8 image -> normalised float.

Both run batched on whatever device their input lives on; the CPU loader only crops and
decodes. The audio front end follows the usual audio-SSL recipe (BYOL-A, Niizumi et al.
2021, https://arxiv.org/abs/2103.06695): a power mel spectrogram, a log, then a
normalisation: by default each band's median over time is subtracted (the recording's
stationary channel) before a per-example standardisation that removes its gain.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Sequence

import torch
import torchaudio
from torch import Tensor, nn

# The config's ``frontend`` section, read by attribute: the config's checks call
# empty_mel_bands, so importing ssl_core.config here would be an import cycle.
FrontendConfig = Any

NORMALIZE_MODES = ("band", "instance", "batch", "none")
LOG_EPS = 1e-6  # log floor; a full-scale tone has mel power ~1e4 at n_fft=512, so ~100 dB down
STD_EPS = 1e-5  # keeps digital silence (std 0) finite after standardisation


def fp32_region(device: torch.device) -> contextlib.AbstractContextManager:
    """A context where autocast is off on ``device``, so FFTs and filterbanks stay float32.

    Under bf16 autocast the mel matmul would otherwise run in bf16 (8 mantissa bits),
    which quantises quiet bands; the front end is cheap, so we keep it exact.
    """
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def standardize(x: Tensor, mode: str) -> Tensor:
    """Normalise log-mels ``x: [B, F, T]``: band median removed then per example ("band"), per
    example ("instance"), over the batch ("batch"), or not at all ("none"). Same shape.

    "band" first subtracts each band's median over the window's frames (``[B, F, 1]``), then
    standardises per example. In the log domain a stationary channel is an additive per-band
    offset: the microphone's EQ, the background noise's colour and level where the bird is
    silent. The median over time estimates it because song is sparse in time (the "median
    clipping" noise reduction of Sprengel et al. 2016, BirdCLEF's winning front end; per-utterance
    cepstral mean normalisation in speech), so what is left is what changes: the song. With an
    even number of frames the median is the lower of the two middle values (``torch.median``).
    It also removes what a sustained sound holds still (a held note's harmonics): a choice per
    data set, measured by the shortcut probe and the verdict (README, "The front end").

    Uses the population std (divide by N) plus ``STD_EPS``: an all-constant input maps to 0.
    """
    if mode == "none":
        return x
    if mode == "band":
        x = x - x.median(dim=2, keepdim=True).values
    dims = (0, 1, 2) if mode == "batch" else (1, 2)
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, correction=0)
    return (x - mean) / (std + STD_EPS)


class LogMelFrontend(nn.Module):
    """Waveform ``[B, T]`` -> normalised log-mel ``[B, 1, n_mels, frames]`` (float32).

    ``frames = T // hop_length + 1`` (centred STFT with reflect padding). Exposed in parts
    (``mel_power`` -> ``log_compress`` -> ``standardize``) so augmentations can act in the
    linear power domain (BYOL-A's mix) and before standardisation.

    The log is ``log(power + 1e-6)`` rather than torchaudio's ``AmplitudeToDB(top_db=80)``:
    it is elementwise and exactly invertible (``exp(log) - eps``), whereas AmplitudeToDB's
    top_db clamp takes its maximum over the last three dimensions of whatever shape it is
    given, so its result depends on how the batch is laid out. The dB scale factor
    (10 / ln 10) is irrelevant once the output is standardised.
    """

    def __init__(self, cfg: FrontendConfig, sample_rate: int) -> None:
        super().__init__()
        _check_frontend(cfg, sample_rate)
        self.normalize = cfg.normalize
        self.n_fft = cfg.n_fft
        self.hop_length = cfg.hop_length
        with warnings.catch_warnings():
            # torchaudio warns about empty filters; we raise a clearer error below instead.
            warnings.simplefilter("ignore", UserWarning)
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate,
                n_fft=cfg.n_fft,
                hop_length=cfg.hop_length,
                f_min=cfg.f_min,
                f_max=cfg.f_max,
                n_mels=cfg.n_mels,
                power=2.0,
            )
        empty = _empty_bands(self.mel.mel_scale.fb)
        if empty:
            raise ValueError(empty_mel_bands_message(cfg, empty, sample_rate))

    def num_frames(self, num_samples: int) -> int:
        """Frames produced from ``num_samples`` samples (centred STFT)."""
        return num_samples // self.hop_length + 1

    def mel_power(self, wave: Tensor) -> Tensor:
        """``wave: [B, T]`` -> mel power spectrogram ``[B, n_mels, frames]``, float32, autocast off."""
        if wave.dim() != 2:
            raise ValueError(f"wave must be [B, T], got shape {tuple(wave.shape)}")
        if wave.shape[-1] <= self.n_fft // 2:
            raise ValueError(
                f"wave has {wave.shape[-1]} samples; the centred STFT needs more than n_fft // 2 = {self.n_fft // 2}"
            )
        self._follow(wave.device)
        with fp32_region(wave.device):
            # ``self.mel``'s own STFT (its window and settings), complex: MelSpectrogram's
            # ``abs().pow(2)`` takes a square root only to square it again, and that was 56 % of
            # the view maker's CPU time (two views of 64 x 2 s at 16 kHz; bench/views.py).
            stft = self.mel.spectrogram
            spec = torchaudio.functional.spectrogram(
                wave.float(), pad=stft.pad, window=stft.window, n_fft=stft.n_fft, hop_length=stft.hop_length,
                win_length=stft.win_length, power=None, normalized=stft.normalized, center=stft.center,
                pad_mode=stft.pad_mode, onesided=stft.onesided)  # [B, n_fft // 2 + 1, frames] complex
            # |z|^2 = re^2 + im^2 in one fused op, no sqrt: 3.7 ms against abs().pow(2)'s 48 ms
            # on [64, 257, 201] bins (1 CPU thread; a sum over a last dim of 2 took 110 ms).
            power = torch.addcmul(spec.real.square(), spec.imag, spec.imag)
            return self.mel.mel_scale(power)

    @staticmethod
    def log_compress(power: Tensor) -> Tensor:
        """Mel power ``[B, F, T]`` -> natural log ``log(power + 1e-6)``, same shape."""
        return torch.log(power + LOG_EPS)

    def standardize(self, logmel: Tensor) -> Tensor:
        """Apply ``cfg.normalize`` to ``logmel: [B, F, T]``."""
        return standardize(logmel, self.normalize)

    def forward(self, wave: Tensor) -> Tensor:
        """``wave: [B, T]`` -> ``[B, 1, n_mels, frames]`` float32."""
        return self.standardize(self.log_compress(self.mel_power(wave))).unsqueeze(1)

    def _follow(self, device: torch.device) -> None:
        # The window and filterbank are buffers; move them once if the caller forgot
        # ``.to(device)``, so the module works on any device without a hard-coded one.
        if self.mel.mel_scale.fb.device != device:
            self.to(device)


class ImageFrontend(nn.Module):
    """uint8 images ``[B, C, H, W]`` -> float ``[B, C, S, S]``: scale to [0, 1], resize, normalise.

    Resizing is bilinear with antialiasing (``F.interpolate(..., antialias=True)``, which
    follows PIL's filter when downsampling); it is skipped when the input is already S x S.
    ``mean``/``std`` default to 0.5 for every channel (maps [0, 1] to [-1, 1]).
    """

    def __init__(
        self, image_size: int, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        if not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        self.image_size = image_size
        mean_t = torch.tensor([0.5] if mean is None else list(mean), dtype=torch.float32)
        std_t = torch.tensor([0.5] if std is None else list(std), dtype=torch.float32)
        if mean_t.numel() == 0 or mean_t.numel() != std_t.numel():
            raise ValueError(f"mean and std need the same non-zero length, got {mean!r} and {std!r}")
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be positive for every channel, got {std!r}")
        # Not persistent: they come from the constructor, not from training.
        self.register_buffer("mean", mean_t.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std_t.view(1, -1, 1, 1), persistent=False)

    @staticmethod
    def to_unit(img: Tensor) -> Tensor:
        """uint8 ``[B, C, H, W]`` -> float32 in [0, 1], same shape."""
        if img.dim() != 4 or img.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 [B, C, H, W], got {img.dtype} of shape {tuple(img.shape)}")
        return img.float() / 255.0

    def normalise(self, x: Tensor) -> Tensor:
        """``x: [B, C, h, w]`` in [0, 1] -> ``(x - mean) / std`` per channel."""
        channels = self.mean.shape[1]
        if channels not in (1, x.shape[1]):
            raise ValueError(f"mean/std have {channels} channels but the images have {x.shape[1]}")
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def forward(self, img: Tensor) -> Tensor:
        """``img: uint8 [B, C, H, W]`` -> float32 ``[B, C, image_size, image_size]``."""
        x = self.to_unit(img)
        size = self.image_size
        if x.shape[-2:] != (size, size):
            with fp32_region(x.device):
                x = nn.functional.interpolate(
                    x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
                )
        return self.normalise(x)


def _empty_bands(filterbank: Tensor) -> list[int]:
    """Mel bands of a ``[n_freqs, n_mels]`` filter bank that weigh no FFT bin."""
    return (filterbank.amax(dim=0) == 0).nonzero().flatten().tolist()


def empty_mel_bands(cfg: FrontendConfig, sample_rate: int) -> list[int]:
    """Indices of the mel bands that would contain no FFT bin (too many mels for ``n_fft``).

    The filter bank is torchaudio's, built exactly as ``MelSpectrogram`` builds it (HTK
    scale, no normalisation), so config validation and the front end agree.
    """
    with warnings.catch_warnings():  # torchaudio's warning says less than our message
        warnings.simplefilter("ignore", UserWarning)
        fb = torchaudio.functional.melscale_fbanks(cfg.n_fft // 2 + 1, cfg.f_min, cfg.f_max, cfg.n_mels,
                                                   sample_rate)
    return _empty_bands(fb)


def empty_mel_bands_message(cfg: FrontendConfig, empty: list[int], sample_rate: int) -> str:
    """Names every field involved (the sample rate sets the FFT bins' spacing): any of them can
    be the one the user changed, and the one to change back."""
    return (f"frontend.n_mels={cfg.n_mels} is too many for frontend.n_fft={cfg.n_fft} ({cfg.n_fft // 2 + 1} FFT "
            f"bins at data.sample_rate={sample_rate}) between frontend.f_min={cfg.f_min} and "
            f"frontend.f_max={cfg.f_max}: {len(empty)} of the mel bands (from band {empty[0]}) contain no FFT bin; "
            "raise n_fft, lower n_mels, widen f_min..f_max or change the sample rate")


def _check_frontend(cfg: FrontendConfig, sample_rate: int) -> None:
    """Raise ValueError naming the first bad front-end setting."""
    if not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    for name in ("n_mels", "n_fft", "hop_length"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"frontend.{name} must be a positive integer, got {value!r}")
    if cfg.n_fft < 2:
        raise ValueError(f"frontend.n_fft must be >= 2, got {cfg.n_fft}")
    nyquist = sample_rate / 2
    if not 0.0 <= cfg.f_min < cfg.f_max <= nyquist:
        raise ValueError(
            f"need 0 <= frontend.f_min < frontend.f_max <= sample_rate / 2 = {nyquist}, "
            f"got f_min={cfg.f_min}, f_max={cfg.f_max}"
        )
    if cfg.normalize not in NORMALIZE_MODES:
        raise ValueError(f"frontend.normalize must be one of {NORMALIZE_MODES}, got {cfg.normalize!r}")
