"""Front ends against independent references: a NumPy STFT + HTK mel filterbank, PIL resizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_core.config import FrontendConfig
from ssl_core.frontends import ImageFrontend, LogMelFrontend

SR = 16000
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def _mel_corners(cfg: FrontendConfig) -> np.ndarray:
    """n_mels + 2 band edges in Hz, equally spaced on the HTK mel scale."""
    return _mel_to_hz(np.linspace(_hz_to_mel(cfg.f_min), _hz_to_mel(cfg.f_max), cfg.n_mels + 2))


def reference_log_mel(wave: np.ndarray, cfg: FrontendConfig, sr: int) -> np.ndarray:
    """Textbook log-mel in float64: reflect-padded frames, periodic Hann, |rfft|^2, triangles.

    wave: [T] -> [n_mels, frames] = log(mel power + 1e-6).
    """
    n_fft, hop = cfg.n_fft, cfg.hop_length
    padded = np.pad(wave.astype(np.float64), n_fft // 2, mode="reflect")
    frames = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    stack = np.stack([padded[i * hop : i * hop + n_fft] * window for i in range(frames)])
    power = np.abs(np.fft.rfft(stack, axis=1)) ** 2  # [frames, n_fft // 2 + 1]
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = _mel_corners(cfg)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    bank = np.maximum(0.0, np.minimum(rising, falling))  # [n_mels, n_freqs]
    return np.log(bank @ power.T + 1e-6)


def _test_waves(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SR
    waves = [
        0.3 * np.sin(2 * np.pi * rng.uniform(300, 6000) * t) + 0.05 * rng.standard_normal(samples)
        for _ in range(batch)
    ]
    return torch.tensor(np.stack(waves), dtype=torch.float32)


def test_log_mel_matches_numpy_reference():
    cfg = FrontendConfig(normalize="none")
    waves = _test_waves(3, 4000)
    out = LogMelFrontend(cfg, SR)(waves)
    frames = 4000 // cfg.hop_length + 1
    assert out.shape == (3, 1, cfg.n_mels, frames)
    assert out.dtype == torch.float32
    for b in range(3):
        ref = reference_log_mel(waves[b].numpy(), cfg, SR)
        np.testing.assert_allclose(out[b, 0].numpy(), ref, atol=2e-3, rtol=0)


def test_instance_normalisation_matches_reference_and_is_standardised():
    cfg = FrontendConfig(normalize="instance")
    waves = _test_waves(4, 4000, seed=1) * torch.tensor([1.0, 0.1, 3.0, 0.01])[:, None]
    out = LogMelFrontend(cfg, SR)(waves)[:, 0]
    for b in range(4):
        ref = reference_log_mel(waves[b].numpy(), cfg, SR)
        ref = (ref - ref.mean()) / ref.std()
        np.testing.assert_allclose(out[b].numpy(), ref, atol=2e-3, rtol=0)
    flat = out.reshape(4, -1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(flat.std(1, correction=0), torch.ones(4), atol=1e-3, rtol=0)


def test_batch_and_none_normalisation():
    waves = _test_waves(4, 4000, seed=2)
    raw = LogMelFrontend(FrontendConfig(normalize="none"), SR)(waves)
    batch = LogMelFrontend(FrontendConfig(normalize="batch"), SR)(waves)
    expected = (raw - raw.mean()) / raw.std(correction=0)
    torch.testing.assert_close(batch, expected, atol=1e-4, rtol=0)
    # Per-example statistics are not standardised by batch normalisation.
    assert batch.reshape(4, -1).mean(1).abs().max() > 1e-2


def test_band_normalisation_matches_reference_and_removes_a_stationary_channel():
    """``band``: each mel band's median over frames subtracted, then per-example standardisation.
    A microphone's EQ multiplies each band's power by a constant: in log-mel an additive per-band
    offset, which the band median takes away exactly (and instance normalisation does not)."""
    cfg = FrontendConfig(normalize="band")
    samples = 26 * cfg.hop_length  # 27 frames: an odd count, so the median is the middle value
    waves = _test_waves(3, samples, seed=3)
    frontend = LogMelFrontend(cfg, SR)
    out = frontend(waves)[:, 0]
    for b in range(3):
        ref = reference_log_mel(waves[b].numpy(), cfg, SR)
        ref = ref - np.median(ref, axis=1, keepdims=True)
        ref = (ref - ref.mean()) / ref.std()
        np.testing.assert_allclose(out[b].numpy(), ref, atol=2e-3, rtol=0)
    logmel = frontend.log_compress(frontend.mel_power(waves))  # [B, F, T]
    tilt = torch.linspace(-3.0, 3.0, cfg.n_mels)[None, :, None]  # a per-band gain, in log power
    torch.testing.assert_close(frontend.standardize(logmel + tilt), frontend.standardize(logmel), atol=1e-4, rtol=0)
    instance = LogMelFrontend(FrontendConfig(normalize="instance"), SR)
    assert (instance.standardize(logmel + tilt) - instance.standardize(logmel)).abs().max() > 0.1


def test_2khz_sine_peaks_in_nearest_mel_band():
    cfg = FrontendConfig(normalize="none")
    t = np.arange(SR) / SR
    wave = torch.tensor(np.sin(2 * np.pi * 2000.0 * t), dtype=torch.float32)[None]
    out = LogMelFrontend(cfg, SR)(wave)[0, 0]
    centres = _mel_corners(cfg)[1:-1]
    assert int(out.mean(dim=1).argmax()) == int(np.argmin(np.abs(centres - 2000.0)))


def test_log_mel_under_autocast_is_float32_and_unchanged():
    frontend = LogMelFrontend(FrontendConfig(), SR)
    waves = _test_waves(2, 4000, seed=3)
    plain = frontend(waves)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = frontend(waves)
        unguarded = frontend.mel(waves)  # torchaudio's module alone runs its mel matmul in bf16
    assert unguarded.dtype == torch.bfloat16
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, plain, atol=1e-5, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_log_mel_runs_on_input_device(device):
    frontend = LogMelFrontend(FrontendConfig(), SR)  # deliberately not moved
    out = frontend(_test_waves(2, 2000).to(device))
    assert out.device.type == device


@pytest.mark.parametrize(
    "cfg, sr, match",
    [
        (FrontendConfig(normalize="layer"), SR, "normalize"),
        (FrontendConfig(f_max=9000.0), SR, "f_max"),
        (FrontendConfig(f_min=-1.0), SR, "f_min"),
        (FrontendConfig(n_mels=200, n_fft=256), SR, "n_mels=200"),
        (FrontendConfig(hop_length=0), SR, "hop_length"),
        (FrontendConfig(), 0, "sample_rate"),
    ],
)
def test_log_mel_rejects_bad_settings(cfg, sr, match):
    with pytest.raises(ValueError, match=match):
        LogMelFrontend(cfg, sr)


def test_log_mel_rejects_bad_input():
    frontend = LogMelFrontend(FrontendConfig(), SR)
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        frontend(torch.zeros(2, 1, 4000))
    with pytest.raises(ValueError, match="n_fft"):
        frontend(torch.zeros(2, 100))


def _images(batch: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8, generator=g)


def test_image_frontend_same_size_is_scale_and_normalise():
    img = _images(2, 3, 16)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = ImageFrontend(16, mean, std)(img)
    expected = (img.numpy() / 255.0 - np.array(mean)[None, :, None, None]) / np.array(std)[None, :, None, None]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)
    default = ImageFrontend(16)(img)
    np.testing.assert_allclose(default.numpy(), img.numpy() / 127.5 - 1.0, atol=1e-5)


def _bilinear_upsample(a: np.ndarray, size: int) -> np.ndarray:
    """Half-pixel-centre bilinear resize of a [H, W] array, edges clamped."""
    h, w = a.shape

    def axis(n_in: int):
        src = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, src - low

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x1] * fx
    bottom = a[y1][:, x0] * (1 - fx) + a[y1][:, x1] * fx
    return top * (1 - fy[:, None]) + bottom * fy[:, None]


def test_image_frontend_upsampling_matches_bilinear_formula():
    img = _images(2, 1, 8, seed=1)
    out = ImageFrontend(32)(img)
    assert out.shape == (2, 1, 32, 32)
    for b in range(2):
        ref = _bilinear_upsample(img[b, 0].numpy() / 255.0, 32) * 2.0 - 1.0
        np.testing.assert_allclose(out[b, 0].numpy(), ref, atol=1e-5)


def test_image_frontend_downsampling_matches_pil_antialiased_bilinear():
    img = _images(2, 3, 64, seed=2)
    out = ImageFrontend(24, mean=(0.0,), std=(1.0,))(img)
    for b in range(2):
        for c in range(3):
            pil = Image.fromarray(img[b, c].numpy().astype(np.float32) / 255.0, mode="F")
            ref = np.asarray(pil.resize((24, 24), Image.BILINEAR))
            np.testing.assert_allclose(out[b, c].numpy(), ref, atol=2e-3)


def test_image_frontend_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        ImageFrontend(8)(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="channels"):
        ImageFrontend(8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(_images(1, 1, 8))
    with pytest.raises(ValueError, match="std"):
        ImageFrontend(8, mean=(0.5,), std=(0.0,))
    with pytest.raises(ValueError, match="image_size"):
        ImageFrontend(0)


def test_mel_power_equals_torchaudios_mel_spectrogram():
    """mel_power squares the STFT's bins as re^2 + im^2 (no sqrt then square): the same power
    spectrogram as torchaudio's MelSpectrogram, to float32 rounding."""
    frontend = LogMelFrontend(FrontendConfig(), SR)
    waves = _test_waves(3, 8000, seed=5)
    reference = frontend.mel(waves)
    torch.testing.assert_close(frontend.mel_power(waves), reference, rtol=1e-5, atol=1e-6 * float(reference.max()))
