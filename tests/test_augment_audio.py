"""Audio view maker and the first audio augmentations: identity at strength 0, change, per-example
parameters, seeded determinism, device, and formula checks (noise SNR, mix, pitch shift, masks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssl_core.augment import AudioViewMaker, ImageViewMaker, audio
from ssl_core.config import AugmentConfig, FrontendConfig
from tests.augment_cases import (
    AUDIO_AUGS,
    AUDIO_OFF,
    DEVICES,
    FRAMES,
    FRONTEND,
    SAMPLES,
    SR,
    audio_maker,
    distinct_rows,
    make_images,
    make_waves,
)

# ---------------------------------------------------------------- audio view maker


@pytest.mark.parametrize("normalize", ["instance", "band", "batch", "none"])
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
