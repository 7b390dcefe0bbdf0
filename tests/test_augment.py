"""Batched augmentations: identity at p = 0, change at p = 1, per-example parameters,
seeded determinism, device placement, and values against formulas and torchvision."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from ssl_core.augment import AudioViewMaker, ImageViewMaker, audio, image
from ssl_core.config import AugmentConfig, FrontendConfig
from ssl_core.frontends import ImageFrontend

SR = 16000
SAMPLES = 4000
FRONTEND = FrontendConfig(n_mels=32, n_fft=256, hop_length=64, normalize="none")
FRAMES = SAMPLES // FRONTEND.hop_length + 1
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

AUDIO_OFF = dict(gain_p=0.0, noise_p=0.0, mix_p=0.0, pitch_shift_p=0.0, time_mask_p=0.0, freq_mask_p=0.0)
AUDIO_AUGS = {
    "gain": "gain_p",
    "noise": "noise_p",
    "mix": "mix_p",
    "pitch_shift": "pitch_shift_p",
    "time_mask": "time_mask_p",
    "freq_mask": "freq_mask_p",
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
    audio_views = AudioViewMaker(AugmentConfig(num_local_crops=1), FrontendConfig(), SR)
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
    maker = AudioViewMaker(AugmentConfig(num_local_crops=2), FrontendConfig(), SR)  # module not moved
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


# ---------------------------------------------------------------- image view maker


@pytest.mark.parametrize("ratio", [(3 / 4, 4 / 3), (1.0, 1.0)])
@pytest.mark.parametrize("in_size", [16, 32, 48])
def test_image_all_off_is_identity(in_size, ratio):
    torch.manual_seed(0)
    maker = ImageViewMaker(AugmentConfig(**IMAGE_OFF), 32, ratio=ratio)
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
