"""Time stretch, spectrogram crop, fader and filters: shared properties and formula checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssl_core.augment import audio_level, audio_warp
from ssl_core.config import FrontendConfig
from tests.augment_cases import DEVICES, FRONTEND, SR, audio_maker, distinct_rows

# ---------------------------------------------------------------- new audio augmentations: shared properties

CENTRES = audio_level.mel_band_centres(FRONTEND.n_mels, FRONTEND.f_min, FRONTEND.f_max)


def _positive_power(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, FRONTEND.n_mels, 40, generator=g).add(0.1).expand(batch, -1, -1).contiguous()


def _logmel(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 16, 40, generator=g).expand(batch, -1, -1).contiguous()


def _wave(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 500, generator=g).expand(batch, -1).contiguous()


# name -> (function(x, p, strength), example input [identical rows], identity strength, active strength)
NEW_AUGS = {
    "time_stretch": (audio_warp.time_stretch, _logmel, 0.0, 0.2),
    "spec_crop": (audio_warp.spec_resized_crop, _logmel, 1.0, 0.5),
    "fader": (audio_level.random_fader, _wave, 0.0, 6.0),
    "filter": (lambda x, p, db: audio_level.random_filter(x, p, db, CENTRES), _positive_power, 0.0, 12.0),
}


@pytest.mark.parametrize("name", NEW_AUGS)
def test_new_aug_probability_zero_is_identity(name):
    fn, make, _, active = NEW_AUGS[name]
    torch.manual_seed(0)
    x = make(8)
    assert torch.equal(fn(x, 0.0, active), x)


@pytest.mark.parametrize("name", NEW_AUGS)
def test_new_aug_strength_zero_is_identity(name):
    fn, make, identity, _ = NEW_AUGS[name]
    torch.manual_seed(0)
    x = make(8)
    torch.testing.assert_close(fn(x, 1.0, identity), x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", NEW_AUGS)
def test_new_aug_changes_input_and_differs_per_example(name):
    fn, make, _, active = NEW_AUGS[name]
    torch.manual_seed(0)
    x = make(16)  # sixteen identical rows
    out = fn(x, 1.0, active)
    changed = (out - x).flatten(1).abs().amax(1) > 1e-3
    assert changed.sum() >= 12, f"{name} changed only {int(changed.sum())} of 16 examples"
    assert distinct_rows(out) == 16  # continuous parameters: every example its own


@pytest.mark.parametrize("name", NEW_AUGS)
def test_new_aug_is_deterministic_under_seed(name):
    fn, make, _, active = NEW_AUGS[name]
    x = make(8)
    runs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        runs.append(fn(x, 0.5, active))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NEW_AUGS)
def test_new_aug_runs_on_input_device(name, device):
    fn, make, _, active = NEW_AUGS[name]
    torch.manual_seed(0)
    x = make(4).to(device)
    out = fn(x, 1.0, active)
    assert out.device == x.device and out.shape == x.shape and out.dtype == x.dtype


# ---------------------------------------------------------------- time stretch vs formula


def _hat_reference(n_frames: int, frame: int, rate: float) -> np.ndarray:
    """Linear interpolation of a one-frame impulse resampled at s = c + (t - c) * rate;
    positions outside the clip hold the input's mean, 1 / n_frames."""
    c = (n_frames - 1) / 2
    s = c + (np.arange(n_frames) - c) * rate
    return np.where((s >= 0) & (s <= n_frames - 1), np.maximum(0.0, 1.0 - np.abs(s - frame)), 1.0 / n_frames)


def test_stretch_time_moves_a_single_frame_where_the_rate_says():
    n_frames, frame = 41, 31  # centre c = 20
    rates = torch.tensor([0.8, 0.9, 1.0, 1.1, 1.25])
    x = torch.zeros(len(rates), 6, n_frames)
    x[:, :, frame] = 1.0  # one active frame (a vertical line) on a background of 0
    out = audio_warp.stretch_time(x, rates)
    for b, rate in enumerate(rates.tolist()):
        expected = _hat_reference(n_frames, frame, rate)
        np.testing.assert_allclose(out[b].numpy(), np.broadcast_to(expected, (6, n_frames)), atol=1e-5)  # float32 s
        # The peak lands at c + (frame - c) / rate: speeding up moves content towards the centre.
        assert int(out[b, 0].argmax()) == round(20 + (frame - 20) / rate)
    assert [int(out[b, 0].argmax()) for b in range(5)] == [34, 32, 31, 30, 29]


def test_time_stretch_rates_come_from_the_documented_draws():
    # The parameters are drawn whatever p is: the gate first, then u for rate = 1 + (2u - 1) * max.
    n_frames, frame, batch, max_stretch = 41, 31, 32, 0.2
    x = torch.zeros(batch, 4, n_frames)
    x[:, :, frame] = 1.0
    torch.manual_seed(11)
    out = audio_warp.time_stretch(x, p=0.7, max_stretch=max_stretch)
    torch.manual_seed(11)
    gate = torch.rand(batch) < 0.7
    rates = 1 + (torch.rand(batch) * 2 - 1) * max_stretch
    assert 0 < gate.sum() < batch
    for b in range(batch):
        expected = _hat_reference(n_frames, frame, float(rates[b])) if gate[b] else x[b, 0].numpy()
        np.testing.assert_allclose(out[b, 0].numpy(), expected, atol=1e-5)
    assert ((rates >= 1 - max_stretch) & (rates <= 1 + max_stretch)).all()
    with pytest.raises(ValueError, match="max_stretch"):
        audio_warp.time_stretch(x, 1.0, 1.0)


def test_stretch_time_fills_outside_with_the_example_mean():
    x = torch.randn(2, 5, 30)
    out = audio_warp.stretch_time(x, torch.tensor([1.5, 0.7]))  # example 0: sources beyond both ends
    torch.testing.assert_close(out[0, :, 0], x[0].mean().expand(5))
    torch.testing.assert_close(out[0, :, -1], x[0].mean().expand(5))
    assert not torch.isclose(out[1, :, [0, -1]], x[1].mean()).any()  # slowing down needs no fill


# ---------------------------------------------------------------- spectrogram random resized crop


def test_spec_crop_is_a_bilinear_zoom_into_a_box_within_the_scale_range():
    batch, n_bands, n_frames, scale_min = 64, 16, 40, 0.5
    t = torch.arange(n_frames, dtype=torch.float32).expand(batch, n_bands, n_frames)
    f = torch.arange(n_bands, dtype=torch.float32)[:, None].expand(batch, n_bands, n_frames)
    torch.manual_seed(3)
    out_t = audio_warp.spec_resized_crop(t.contiguous(), 1.0, scale_min)
    torch.manual_seed(3)  # same seed: the same boxes, now read off a frequency ramp
    out_f = audio_warp.spec_resized_crop(f.contiguous(), 1.0, scale_min)
    # A box [x1, x1 + w] resized to T columns samples column j at x1 - 0.5 + (j + 0.5) w / T
    # (pixel centres); on a ramp the value is that position. Interior columns avoid edge clamping.
    j = torch.arange(1, n_frames - 1, dtype=torch.float32)
    i = torch.arange(1, n_bands - 1, dtype=torch.float32)
    slope_t = (out_t[:, 0, -2] - out_t[:, 0, 1]) / (n_frames - 3)
    slope_f = (out_f[:, -2, 0] - out_f[:, 1, 0]) / (n_bands - 3)
    width, height = slope_t * n_frames, slope_f * n_bands
    x1 = out_t[:, 0, 1] + 0.5 - 1.5 * slope_t
    y1 = out_f[:, 1, 0] + 0.5 - 1.5 * slope_f
    torch.testing.assert_close(out_t[:, :, 1:-1], (x1[:, None] - 0.5 + (j + 0.5) * slope_t[:, None])[:, None, :]
                               .expand(-1, n_bands, -1), atol=1e-4, rtol=0)
    torch.testing.assert_close(out_f[:, 1:-1, :], (y1[:, None] - 0.5 + (i + 0.5) * slope_f[:, None])[:, :, None]
                               .expand(-1, -1, n_frames), atol=1e-4, rtol=0)
    area = width * height / (n_frames * n_bands)
    assert (area >= scale_min - 1e-4).all() and (area <= 1 + 1e-4).all()
    assert (x1 >= -1e-4).all() and (x1 + width <= n_frames + 1e-4).all()
    assert (y1 >= -1e-4).all() and (y1 + height <= n_bands + 1e-4).all()
    assert area.std() > 0.05 and x1.std() > 1.0  # spread per example
    assert (width / n_frames < 0.9).any() and (height / n_bands < 0.9).any()  # both axes get cropped
    with pytest.raises(ValueError, match="scale_min"):
        audio_warp.spec_resized_crop(t, 1.0, 0.0)


# ---------------------------------------------------------------- fader vs formula


def test_fade_with_is_a_linear_ramp_in_db_centred_on_the_middle():
    n = 101
    gains = torch.tensor([6.0, -6.0, 0.0, 20.0])
    out = audio_level.fade_with(torch.ones(4, n), gains)
    ramp_db = gains[:, None] * (torch.arange(n) / (n - 1) - 0.5)
    torch.testing.assert_close(out, 10 ** (ramp_db / 20), atol=1e-6, rtol=1e-6)
    level_change = 20 * torch.log10(out[:, -1] / out[:, 0])
    torch.testing.assert_close(level_change, gains, atol=1e-4, rtol=0)
    torch.testing.assert_close(out[:, n // 2], torch.ones(4))  # the middle keeps its level


def test_random_fader_level_change_matches_the_drawn_db():
    batch, max_db = 64, 6.0
    wave = torch.ones(batch, 201)
    torch.manual_seed(5)
    out = audio_level.random_fader(wave, p=1.0, max_db=max_db)
    measured = 20 * torch.log10(out[:, -1] / out[:, 0])  # level change across the clip
    torch.manual_seed(5)
    torch.rand(batch)  # the gate
    drawn = (torch.rand(batch) * 2 - 1) * max_db  # |g| ~ U(0, max), random direction
    torch.testing.assert_close(measured, drawn, atol=1e-4, rtol=0)
    assert measured.abs().max() <= max_db + 1e-4
    assert (measured > 1).sum() > 10 and (measured < -1).sum() > 10  # fades in and out both occur


# ---------------------------------------------------------------- filters vs formula


def _raised_cosine(u: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def _filter_reference_db(centres: np.ndarray, kind: int, cutoff: float, attenuation: float) -> np.ndarray:
    """-A * shape; the roll-off is a raised cosine over one octave past the edge(s)."""
    octaves = np.log2(centres / cutoff)
    if kind == 0:
        shape = _raised_cosine(octaves)
    elif kind == 1:
        shape = _raised_cosine(-octaves)
    else:  # pass band of one octave either side of the cutoff
        shape = np.maximum(_raised_cosine(octaves - 1.0), _raised_cosine(-octaves - 1.0))
    return -attenuation * shape


def test_mel_band_centres_match_the_frontend_filterbank_peaks():
    maker = audio_maker(FrontendConfig(n_mels=40, n_fft=1024, hop_length=160))
    fb = maker.frontend.mel.mel_scale.fb  # [n_freqs, n_mels]
    bin_hz = SR / 1024
    peaks = fb.argmax(dim=0).float() * bin_hz
    centres = audio_level.mel_band_centres(40, FrontendConfig().f_min, FrontendConfig().f_max)
    assert (peaks - centres).abs().max() <= bin_hz / 2 + 1e-3  # peak is the FFT bin nearest the centre
    assert (centres.diff() > 0).all()


def test_lowpass_keeps_low_bands_and_attenuates_high_bands_by_the_set_db():
    centres = audio_level.mel_band_centres(64, 50.0, 8000.0)
    power = torch.rand(3, 64, 7) + 0.01
    cutoff, attenuation = 1000.0, 12.0
    gains = audio_level.filter_gains_db(centres, torch.tensor([0, 1, 2]), torch.full((3,), cutoff),
                                        torch.full((3,), attenuation))
    out = audio_level.apply_band_gains(power, gains)
    measured_db = 10 * torch.log10(out / power)  # [3, F, T]; the same gain in every frame
    torch.testing.assert_close(measured_db, measured_db[:, :, :1].expand_as(measured_db), atol=1e-4, rtol=0)
    low, high = centres <= cutoff, centres >= 2 * cutoff  # pass band / beyond the one-octave roll-off
    assert low.sum() > 5 and high.sum() > 5
    lowpass = measured_db[0, :, 0]
    torch.testing.assert_close(lowpass[low], torch.zeros(int(low.sum())), atol=1e-5, rtol=0)
    torch.testing.assert_close(lowpass[high], torch.full((int(high.sum()),), -attenuation), atol=1e-4, rtol=0)
    assert (lowpass.diff() <= 1e-6).all()  # smooth, monotone roll-off in between
    for kind in range(3):
        ref = _filter_reference_db(centres.double().numpy(), kind, cutoff, attenuation)
        np.testing.assert_allclose(measured_db[kind, :, 0].numpy(), ref, atol=1e-4)
    highpass, bandpass = measured_db[1, :, 0], measured_db[2, :, 0]
    torch.testing.assert_close(highpass[centres <= cutoff / 2], torch.full_like(highpass[centres <= cutoff / 2], -12.0))
    passband = (centres >= cutoff / 2) & (centres <= cutoff * 2)
    torch.testing.assert_close(bandpass[passband], torch.zeros(int(passband.sum())), atol=1e-5, rtol=0)


def test_random_filter_draws_kind_cutoff_and_attenuation_per_example():
    batch, max_db = 48, 12.0
    centres = audio_level.mel_band_centres(32, 50.0, 8000.0)
    power = torch.ones(batch, 32, 3)
    torch.manual_seed(9)
    out = audio_level.random_filter(power, p=1.0, max_db=max_db, centres=centres)
    measured_db = 10 * torch.log10(out[:, :, 0])
    # Replay the documented draws (gate, kind, log-uniform cutoff, attenuation) into the test's formula.
    torch.manual_seed(9)
    torch.rand(batch)
    kinds = torch.randint(0, 3, (batch,))
    lo, hi = math.log(float(centres[0])), math.log(float(centres[-1]))
    cutoffs = torch.exp(lo + (hi - lo) * torch.rand(batch))
    attenuations = torch.rand(batch) * max_db
    for b in range(batch):
        ref = _filter_reference_db(centres.double().numpy(), int(kinds[b]), float(cutoffs[b]), float(attenuations[b]))
        np.testing.assert_allclose(measured_db[b].numpy(), ref, atol=1e-4)
    assert set(kinds.tolist()) == {0, 1, 2}
    assert (measured_db <= 1e-5).all() and (measured_db >= -max_db - 1e-4).all()
