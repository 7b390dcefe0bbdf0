"""Batched augmentations: identity at p = 0 and at strength 0, change at p = 1, per-example
parameters, seeded determinism, device placement, and values against formulas written here
and against torchvision."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from ssl_core.augment import AudioViewMaker, ImageViewMaker, audio, audio_level, audio_warp, image
from ssl_core.config import AugmentConfig, FrontendConfig
from ssl_core.frontends import ImageFrontend

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


# ---------------------------------------------------------------- audio view maker


@pytest.mark.parametrize("normalize", ["instance", "batch", "none"])
def test_audio_all_probabilities_zero_is_identity(normalize):
    torch.manual_seed(0)
    maker = audio_maker(FrontendConfig(**{**FRONTEND.__dict__, "normalize": normalize}))
    waves = make_waves(5, views=2)
    views = maker(waves, num_global=3)
    assert len(views) == 3
    for i, view in enumerate(views):  # view i comes from crop i % V
        torch.testing.assert_close(view, maker.embed_input(waves[:, i % 2]), atol=1e-5, rtol=0)


def test_audio_all_strengths_zero_is_identity():
    torch.manual_seed(0)
    maker = audio_maker(
        FrontendConfig(**{**FRONTEND.__dict__, "normalize": "instance"}),
        **{p: 1.0 for p in AUDIO_OFF},
        gain_db=0.0,
        noise_snr_db=math.inf,
        mix_ratio=0.0,
        pitch_shift_bins=0,
        time_mask_frames=0,
        freq_mask_bins=0,
        time_stretch_max=0.0,
        spec_crop_scale_min=1.0,
        fader_db=0.0,
        filter_db=0.0,
    )
    waves = make_waves(5, views=1)
    torch.testing.assert_close(maker(waves, num_global=1)[0], maker.embed_input(waves[:, 0]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", AUDIO_AUGS)
def test_audio_aug_probability_one_changes_input(name):
    torch.manual_seed(0)
    maker = audio_maker(**{AUDIO_AUGS[name]: 1.0})
    waves = make_waves(8, views=1)
    view = maker(waves, num_global=1)[0]
    changed = (view - maker.embed_input(waves[:, 0])).flatten(1).abs().amax(1) > 1e-3
    assert changed.sum() >= 4, f"{name} changed only {int(changed.sum())} of 8 examples"


@pytest.mark.parametrize("name", [n for n in AUDIO_AUGS if n != "mix"])  # mix: see test_mix_*
def test_audio_aug_parameters_differ_per_example(name):
    torch.manual_seed(0)
    maker = audio_maker(**{AUDIO_AUGS[name]: 1.0})
    waves = make_waves(1, views=1).expand(8, 1, SAMPLES)  # eight identical recordings
    view = maker(waves, num_global=1)[0]
    assert distinct_rows(view) >= 3


@pytest.mark.parametrize("name", AUDIO_AUGS)
def test_audio_aug_is_deterministic_under_seed(name):
    maker = audio_maker(**{AUDIO_AUGS[name]: 1.0})
    waves = make_waves(6)
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        runs.append(maker(waves)[0])
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_audio_standardisation_comes_after_all_augmentations():
    torch.manual_seed(0)
    maker = audio_maker(
        FrontendConfig(**{**FRONTEND.__dict__, "normalize": "instance"}),
        **{p: 1.0 for p in AUDIO_OFF},
        num_local_crops=2,
    )
    for view in maker(make_waves(6)):  # instance norm saw the augmented input: exact statistics
        flat = view.flatten(1)
        torch.testing.assert_close(flat.mean(1), torch.zeros(6), atol=1e-4, rtol=0)
        torch.testing.assert_close(flat.std(1, correction=0), torch.ones(6), atol=1e-3, rtol=0)


def test_view_makers_ignore_autocast():
    audio_views = AudioViewMaker(AugmentConfig(num_local_crops=1, time_stretch_p=0.5, spec_crop_p=0.5, fader_p=0.5,
                                               filter_p=0.5), FrontendConfig(), SR)
    image_views = ImageViewMaker(AugmentConfig(num_local_crops=1, blur_p=0.5, solarize_p=0.5), 32)
    waves, images = make_waves(4), make_images(4, size=40)
    outputs = []
    for enabled in (False, True):
        torch.manual_seed(0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            outputs.append(audio_views(waves) + image_views(images))
    for plain, cast in zip(*outputs):
        assert cast.dtype == torch.float32
        torch.testing.assert_close(cast, plain, atol=1e-5, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_audio_views_run_on_input_device(device):
    torch.manual_seed(0)
    every = dict(time_stretch_p=0.5, spec_crop_p=0.5, fader_p=0.5, filter_p=0.5)
    maker = AudioViewMaker(AugmentConfig(num_local_crops=2, **every), FrontendConfig(), SR)  # module not moved
    waves = make_waves(4).to(device)
    views = maker(waves)
    assert all(v.device == waves.device for v in views)
    assert maker.embed_input(waves[:, 0]).device == waves.device


def test_audio_multicrop_shapes_and_local_views_are_time_windows():
    torch.manual_seed(0)
    maker = audio_maker(num_local_crops=2, local_crop_fraction=0.4)
    waves = make_waves(4, views=2)
    views = maker(waves)
    local = round(0.4 * FRAMES)
    assert [tuple(v.shape) for v in views] == [(4, 1, 32, FRAMES)] * 2 + [(4, 1, 32, local)] * 2
    for j, view in enumerate(views[2:]):  # with no augmentation: a window of global view j % 2
        full = maker.embed_input(waves[:, j % 2])
        for b in range(4):
            windows = [full[b, 0, :, o : o + local] for o in range(FRAMES - local + 1)]
            assert any(torch.allclose(view[b, 0], w, atol=1e-5) for w in windows)


def test_audio_view_maker_rejects_bad_input():
    with pytest.raises(ValueError, match="augment.noise_p"):
        audio_maker(noise_p=1.5)
    with pytest.raises(ValueError, match="augment.local_crop_fraction"):
        audio_maker(local_crop_fraction=0.0)
    with pytest.raises(ValueError, match="augment.time_mask_frames"):
        audio_maker(time_mask_frames=-1)
    with pytest.raises(ValueError, match=r"augment.time_stretch_max must be in \[0, 1\)"):
        audio_maker(time_stretch_max=1.0)
    with pytest.raises(ValueError, match=r"augment.spec_crop_scale_min must be in \(0, 1\]"):
        audio_maker(spec_crop_scale_min=0.0)
    with pytest.raises(ValueError, match="augment.fader_db"):
        audio_maker(fader_db=-1.0)
    with pytest.raises(ValueError, match="augment.filter_db"):
        audio_maker(filter_db=math.inf)
    with pytest.raises(ValueError, match="augment.filter_p"):
        audio_maker(filter_p=2.0)
    maker = audio_maker()
    with pytest.raises(ValueError, match=r"\[B, V, T\]"):
        maker(torch.zeros(2, SAMPLES))
    with pytest.raises(ValueError, match="num_global"):
        maker(make_waves(2), num_global=0)


# ---------------------------------------------------------------- audio functions vs formulas


def test_gain_is_within_range_and_per_example():
    torch.manual_seed(0)
    out = audio.random_gain(torch.ones(16, 10), p=1.0, max_db=6.0)
    db = 20 * torch.log10(out[:, 0])
    assert db.abs().max() <= 6.0 + 1e-4
    assert torch.allclose(out, out[:, :1].expand_as(out))  # one factor per example
    assert distinct_rows(out) == 16
    assert torch.equal(audio.random_gain(out, p=0.0, max_db=6.0), out)


@pytest.mark.parametrize("snr_db", [0.0, 15.0, 30.0])
def test_noise_snr_matches_setting(snr_db):
    torch.manual_seed(0)
    t = torch.arange(SR) / SR
    freqs = torch.linspace(200, 5000, 8)[:, None]
    levels = torch.logspace(-2, 0, 8)[:, None]
    clean = levels * torch.sin(2 * math.pi * freqs * t)
    noisy = audio.add_white_noise(clean, p=1.0, snr_db=snr_db)
    noise = noisy - clean
    measured = 10 * torch.log10(clean.pow(2).mean(1) / noise.pow(2).mean(1))
    assert (measured - snr_db).abs().max() < 1.0
    assert distinct_rows(audio.add_white_noise(clean[:1].expand(4, -1), 1.0, snr_db) - clean[:1]) == 4
    silent = torch.zeros(2, 100)
    assert torch.equal(audio.add_white_noise(silent, p=1.0, snr_db=snr_db), silent)


def test_mix_is_convex_with_another_example_and_weights_per_example():
    torch.manual_seed(0)
    batch = 6
    power = torch.eye(batch)[:, :, None].repeat(1, 1, 3)  # example b: all power in band b
    out = audio.mix_background(power, p=1.0, max_ratio=0.3)[:, :, 0]
    torch.testing.assert_close(out.sum(1), torch.ones(batch))  # convex: total power kept
    weights = 1.0 - out.diagonal()
    partners = (out - torch.diag(out.diagonal())).argmax(1)
    assert ((weights >= 0) & (weights <= 0.3)).all()
    assert (partners != torch.arange(batch)).all()
    shift = (partners - torch.arange(batch)) % batch  # one roll of the batch
    assert (shift == shift[0]).all()
    torch.testing.assert_close(out[torch.arange(batch), partners], weights)
    assert len(set(weights.tolist())) == batch
    assert torch.equal(audio.mix_background(power, p=0.0, max_ratio=0.3), power)
    single = power[:1]
    assert torch.equal(audio.mix_background(single, p=1.0, max_ratio=0.3), single)


def _shift_reference(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(x, x.min())
    for m in range(x.shape[0]):
        if 0 <= m - k < x.shape[0]:
            out[m] = x[m - k]
    return out


def test_pitch_shift_matches_formula_with_per_example_shift():
    torch.manual_seed(0)
    x = torch.randn(1, 12, 5).expand(16, -1, -1)
    out = audio.pitch_shift(x, p=1.0, max_bins=2)
    found = []
    for b in range(16):
        ks = [k for k in range(-2, 3) if np.allclose(out[b].numpy(), _shift_reference(x[0].numpy(), k))]
        assert len(ks) == 1
        found.append(ks[0])
    assert len(set(found)) >= 3
    assert torch.equal(audio.pitch_shift(x, p=0.0, max_bins=2), x)


@pytest.mark.parametrize("axis", ["time", "freq"])
def test_masks_are_one_band_filled_with_mean_per_example(axis):
    torch.manual_seed(0)
    x = torch.randn(1, 10, 30).expand(128, -1, -1)
    out = audio.time_mask(x, 1.0, 8) if axis == "time" else audio.freq_mask(x, 1.0, 4)
    max_width, dim = (8, 2) if axis == "time" else (4, 1)
    widths, starts = [], []
    for b in range(128):
        hit = (out[b] != x[b]).any(dim=0 if dim == 2 else 1).nonzero().flatten().tolist()
        if hit:  # masked positions are contiguous and hold the example's mean
            assert hit == list(range(hit[0], hit[-1] + 1))
            band = out[b][:, hit] if dim == 2 else out[b][hit]
            torch.testing.assert_close(band, torch.full_like(band, float(x[b].mean())))
            starts.append(hit[0])
        widths.append(len(hit))
    assert max(widths) == max_width  # the configured maximum is reached, never exceeded
    assert len(set(starts)) >= 5
    assert torch.equal(audio.time_mask(x, 0.0, 8), x) and torch.equal(audio.freq_mask(x, 0.0, 4), x)


def test_random_time_crop_is_a_window_at_a_per_example_offset():
    torch.manual_seed(0)
    x = torch.arange(40.0).view(1, 1, 40).expand(16, 3, 40)
    out = audio.random_time_crop(x, 10)
    offsets = out[:, 0, 0].long()
    torch.testing.assert_close(out, offsets[:, None, None] + torch.arange(10.0).expand(16, 3, 10))
    assert len(set(offsets.tolist())) >= 5
    with pytest.raises(ValueError, match="crop length"):
        audio.random_time_crop(x, 41)


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


# ---------------------------------------------------------------- image knobs from the config


def _coordinate_images(batch: int, side: int = 64) -> torch.Tensor:
    """uint8 [B, 3, side, side]: channel 0 = 4 x column, channel 1 = 4 x row (exact in uint8)."""
    ramp = torch.arange(side, dtype=torch.uint8) * 4
    img = torch.zeros(batch, 3, side, side, dtype=torch.uint8)
    img[:, 0] = ramp[None, None, :]
    img[:, 1] = ramp[None, :, None]
    return img


@pytest.mark.parametrize("ratio_max", [1.0, 3.0])
def test_image_crop_aspect_follows_crop_ratio_max(ratio_max):
    torch.manual_seed(0)
    size = 16
    maker = image_maker(size=size, crop_scale_min=0.25, crop_ratio_max=ratio_max)
    view = maker(_coordinate_images(128), num_global=1)[0]
    coords = (view * 0.5 + 0.5) * 255 / 4  # undo the normalisation: pixel coordinates sampled
    # Interior output pixels are bin centres of the box: slope = box side / output side.
    width = (coords[:, 0, 0, -2] - coords[:, 0, 0, 1]) / (size - 3) * size
    height = (coords[:, 1, -2, 0] - coords[:, 1, 1, 0]) / (size - 3) * size
    log_aspect = torch.log(width / height)
    assert log_aspect.abs().max() <= math.log(ratio_max) + 1e-3
    if ratio_max > 4 / 3:  # wider than torchvision's default range in both directions
        assert log_aspect.max() > math.log(4 / 3) + 0.1 and log_aspect.min() < -math.log(4 / 3) - 0.1


def test_image_blur_sigma_range_follows_blur_sigma_max():
    images = make_images(32)
    plain = image_maker().embed_input(images)
    tv = lambda v: (v[..., 1:] - v[..., :-1]).abs().flatten(1).mean(1)  # noqa: E731  total variation
    ratios = {}
    for sigma_max in (0.1, 0.5, 3.0):
        torch.manual_seed(0)
        view = image_maker(blur_p=1.0, blur_sigma_max=sigma_max)(images, num_global=1)[0]
        ratios[sigma_max] = tv(view) / tv(plain)
        if sigma_max == 0.1:  # sigma exactly 0.1: the outer taps weigh e^-50, no blur at all
            torch.testing.assert_close(view, plain, atol=1e-6, rtol=0)
    # On noise images a sigma of 0.5 keeps > 54 % of the variation and a sigma of 1 keeps 13 %
    # (radius-2 kernel at 32 px): sigma_max bounds how strong the blur can get.
    assert (ratios[0.5] > 0.5).all() and ratios[0.5].min() < 0.95
    assert ratios[3.0].min() < 0.15 and (ratios[3.0] < 0.5).sum() >= 16


# ---------------------------------------------------------------- image view maker


@pytest.mark.parametrize("ratio_max", [4 / 3, 1.0])
@pytest.mark.parametrize("in_size", [16, 32, 48])
def test_image_all_off_is_identity(in_size, ratio_max):
    torch.manual_seed(0)
    maker = ImageViewMaker(AugmentConfig(**IMAGE_OFF, crop_ratio_max=ratio_max), 32)
    images = make_images(4, size=in_size)
    views = maker(images, num_global=2)
    for view in views:
        torch.testing.assert_close(view, maker.embed_input(images), atol=1e-5, rtol=0)
    if in_size <= 32:  # no shrinking: the same pixels as the plain bilinear resize
        torch.testing.assert_close(views[0], ImageFrontend(32)(images), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", IMAGE_AUGS)
def test_image_aug_probability_one_changes_input(name):
    torch.manual_seed(0)
    maker = image_maker(**IMAGE_AUGS[name][0])
    images = make_images(8)
    view = maker(images, num_global=1)[0]
    changed = (view - maker.embed_input(images)).flatten(1).abs().amax(1) > 1e-3
    assert changed.all()


@pytest.mark.parametrize("name", IMAGE_AUGS)
def test_image_aug_parameters_differ_per_example(name):
    torch.manual_seed(0)
    maker = image_maker(**IMAGE_AUGS[name][1])
    images = make_images(1).expand(16, -1, -1, -1)
    assert distinct_rows(maker(images, num_global=1)[0]) >= 2


@pytest.mark.parametrize("name", IMAGE_AUGS)
def test_image_aug_is_deterministic_under_seed(name):
    maker = image_maker(**IMAGE_AUGS[name][1])
    images = make_images(8)
    runs = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        runs.append(maker(images)[1])
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("device", DEVICES)
def test_image_views_run_on_input_device(device):
    torch.manual_seed(0)
    maker = ImageViewMaker(AugmentConfig(num_local_crops=2, blur_p=0.5, solarize_p=0.5), 32)
    images = make_images(4, size=40).to(device)
    assert all(v.device == images.device for v in maker(images))
    assert maker.embed_input(images).device == images.device


@pytest.mark.parametrize("size, local", [(32, 13), (16, 8)])
def test_image_multicrop_shapes(size, local):
    torch.manual_seed(0)
    maker = ImageViewMaker(AugmentConfig(num_local_crops=2, local_crop_fraction=0.4), size)
    views = maker(make_images(3, channels=1, size=20))
    assert [tuple(v.shape) for v in views] == [(3, 1, size, size)] * 2 + [(3, 1, local, local)] * 2


def test_image_view_maker_rejects_bad_input():
    with pytest.raises(ValueError, match="augment.flip_p"):
        image_maker(flip_p=-0.1)
    with pytest.raises(ValueError, match="augment.crop_scale_min"):
        image_maker(crop_scale_min=0.0)
    with pytest.raises(ValueError, match=r"augment.crop_ratio_max must be in \[1, inf\)"):
        image_maker(crop_ratio_max=0.5)
    with pytest.raises(ValueError, match=r"augment.blur_sigma_max must be in \[0.1, 10\]"):
        image_maker(blur_sigma_max=0.05)
    with pytest.raises(ValueError, match="uint8"):
        image_maker()(torch.zeros(2, 3, 8, 8))


# ---------------------------------------------------------------- image functions vs torchvision


def test_crop_boxes_respect_scale_ratio_and_image():
    torch.manual_seed(0)
    boxes = image.sample_crop_boxes(512, 30, 40, (0.25, 1.0), (3 / 4, 4 / 3), torch.device("cpu"))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= 40 + 1e-4).all() and (boxes[:, 3] <= 30 + 1e-4).all()
    area = w * h / (30 * 40)
    assert (area >= 0.25 - 1e-4).all() and (area <= 1 + 1e-4).all()
    aspect = w / h
    assert (aspect >= 3 / 4 - 1e-4).all() and (aspect <= 4 / 3 + 1e-4).all()
    assert boxes[:, 0].std() > 1 and area.std() > 0.1  # spread per example
    full = image.sample_crop_boxes(8, 30, 40, (1.0, 1.0), (3 / 4, 4 / 3), torch.device("cpu"))
    torch.testing.assert_close(full, torch.tensor([[0.0, 0.0, 40.0, 30.0]]).expand(8, 4))


def test_crop_resize_matches_slicing_and_torchvision_resized_crop():
    x = make_images(2, size=32).float() / 255
    boxes = torch.tensor([[4.0, 6.0, 20.0, 22.0], [10.0, 0.0, 26.0, 16.0]])
    same = image.crop_resize(x, boxes, 16)  # a 16 x 16 box at 16 x 16: exact pixels
    torch.testing.assert_close(same[0], x[0, :, 6:22, 4:20])
    torch.testing.assert_close(same[1], x[1, :, 0:16, 10:26])
    up = image.crop_resize(x, boxes, 32)  # 2x upsampling: bilinear, as torchvision's resized_crop
    ref = TF.resized_crop(x[0], top=6, left=4, height=16, width=16, size=[32, 32], antialias=True)
    # Border pixels differ by design: roi_align samples just outside the box, resized_crop clamps.
    torch.testing.assert_close(up[0, :, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], atol=1e-5, rtol=0)


def test_adjust_colors_matches_torchvision():
    torch.manual_seed(0)
    x = make_images(4).float() / 255
    b, c, s = torch.rand(3, 4) * 1.2 + 0.4
    out = image.adjust_colors(x, b, c, s)
    for i in range(4):
        ref = TF.adjust_brightness(x[i], float(b[i]))
        ref = TF.adjust_contrast(ref, float(c[i]))
        ref = TF.adjust_saturation(ref, float(s[i]))
        # torchvision's luma uses 0.2989 for red where we use ITU-R 601's 0.299 (see below).
        torch.testing.assert_close(out[i], ref, atol=2e-4, rtol=0)
    gray = make_images(2, channels=1).float() / 255
    ref = TF.adjust_contrast(TF.adjust_brightness(gray[0], 1.3), 0.7)
    torch.testing.assert_close(image.adjust_colors(gray, *torch.tensor([[1.3] * 2, [0.7] * 2, [2.0] * 2]))[0], ref)


def test_color_jitter_strength_zero_is_identity():
    torch.manual_seed(0)
    x = make_images(4).float() / 255
    assert torch.equal(image.color_jitter(x, p=1.0, strength=0.0), x)


def test_grayscale_matches_torchvision_and_skips_one_channel():
    torch.manual_seed(0)
    x = make_images(4).float() / 255
    out = image.random_grayscale(x, p=1.0)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # ITU-R 601-2, as PIL's convert("L")
    torch.testing.assert_close(out, luma[:, None].expand(-1, 3, -1, -1), atol=1e-6, rtol=0)
    # torchvision truncates the red weight to 0.2989, so it differs by at most 1e-4.
    torch.testing.assert_close(out, TF.rgb_to_grayscale(x, num_output_channels=3), atol=1.1e-4, rtol=0)
    gray = make_images(4, channels=1).float() / 255
    assert torch.equal(image.random_grayscale(gray, p=1.0), gray)


def test_blur_matches_torchvision_per_example_sigma():
    x = make_images(3).float() / 255
    sigmas = torch.tensor([0.3, 1.0, 2.0])
    radius = image.blur_radius(32, 32)
    out = image.blur_with_sigma(x, sigmas, radius)
    for i in range(3):
        k = 2 * radius + 1
        ref = TF.gaussian_blur(x[i], kernel_size=[k, k], sigma=[float(sigmas[i])] * 2)
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=0)


def test_solarize_and_flip_match_torchvision():
    x = make_images(2).float() / 255
    torch.testing.assert_close(image.solarize(x, p=1.0), TF.solarize(x, 0.5))
    torch.testing.assert_close(image.horizontal_flip(x, p=1.0), TF.hflip(x))
