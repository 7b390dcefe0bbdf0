"""Image view maker and image augmentations against torchvision and formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms.functional as TF

from ssl_core.augment import ImageViewMaker, image
from ssl_core.config import AugmentConfig
from ssl_core.frontends import ImageFrontend
from tests.augment_cases import DEVICES, IMAGE_AUGS, IMAGE_OFF, distinct_rows, image_maker, make_images

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
