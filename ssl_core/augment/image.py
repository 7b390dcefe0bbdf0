"""Batched image augmentations with per-example random parameters (SimCLR / BYOL recipe).

Inputs are float images in [0, 1], ``[B, C, H, W]``. Parameters come from torch's global
RNG on the input's device; each augmentation is gated per example by a Bernoulli(p)
draw and a gated-off example is returned unchanged (``torch.where``), so p = 0 is the
identity. References: SimCLR (Chen et al. 2020, https://arxiv.org/abs/2002.05709,
Appendix A), BYOL (Grill et al. 2020, https://arxiv.org/abs/2006.07733, Table 6).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align

from ssl_core.augment.audio import bernoulli_gate

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma as PIL; torchvision uses 0.2989 for red (sums to 0.9999)
BLUR_SIGMA_MIN = 0.1  # SimCLR draws sigma in [0.1, 2.0]; the upper end is augment.blur_sigma_max


def sample_crop_boxes(
    batch: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    device: torch.device,
    attempts: int = 10,
) -> Tensor:
    """Random-resized-crop boxes ``[B, 4]`` as (x1, y1, x2, y2) in pixel-edge coordinates.

    As torchvision's RandomResizedCrop, vectorised: per example, ``attempts`` candidates
    with area ``U(scale) * H * W`` and a log-uniform aspect ratio (w / h) in ``ratio``;
    the first that fits is used. If none fits, the fallback is torchvision's: the whole
    image, narrowed to the nearest allowed aspect ratio, centred. With scale = (1, 1) the
    candidates fit only for ratio exactly H / W, so the box is the whole image (identity)
    for any image whose own aspect ratio lies in ``ratio``. Boxes are continuous (sub-pixel);
    ``crop_resize`` samples them bilinearly.
    """
    area = height * width * torch.empty(batch, attempts, device=device).uniform_(scale[0], scale[1])
    log_ratio = torch.empty(batch, attempts, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    aspect = torch.exp(log_ratio)
    w = torch.sqrt(area * aspect)
    h = torch.sqrt(area / aspect)
    fits = (w <= width) & (h <= height)
    first = fits.int().argmax(dim=1, keepdim=True)  # index of the first fitting candidate
    any_fit = fits.any(dim=1)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fallback_w, fallback_h = float(width), width / ratio[0]
    elif in_ratio > ratio[1]:
        fallback_w, fallback_h = height * ratio[1], float(height)
    else:
        fallback_w, fallback_h = float(width), float(height)
    w = torch.where(any_fit, w.gather(1, first).squeeze(1), torch.full_like(any_fit, fallback_w, dtype=w.dtype))
    h = torch.where(any_fit, h.gather(1, first).squeeze(1), torch.full_like(any_fit, fallback_h, dtype=h.dtype))
    x1 = torch.rand(batch, device=device) * (width - w)
    y1 = torch.rand(batch, device=device) * (height - h)
    return torch.stack([x1, y1, x1 + w, y1 + h], dim=1)


def full_boxes(batch: int, height: int, width: int, device: torch.device) -> Tensor:
    """``[B, 4]`` boxes covering the whole image: the deterministic (evaluation) crop."""
    return torch.tensor([0.0, 0.0, float(width), float(height)], device=device).expand(batch, 4)


def crop_resize(x: Tensor, boxes: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Crop box b from image b and resize it: ``[B, C, H, W] -> [B, C, h, w]``.

    ``size`` is ``h = w`` or a pair ``(h, w)`` (spectrogram crops keep their F x T shape).

    ``torchvision.ops.roi_align`` with ``aligned=True`` (pixel centres at +0.5) samples each
    output pixel bilinearly at its bin centre, averaging ceil(box / size) samples per bin
    when shrinking (a box-filter antialias). For the full-image box this equals
    ``F.interpolate(bilinear, align_corners=False)`` when upsampling or keeping the size.
    """
    batch = x.shape[0]
    index = torch.arange(batch, device=x.device, dtype=x.dtype)[:, None]
    rois = torch.cat([index, boxes.to(x.dtype)], dim=1)  # [B, 5]: (batch index, x1, y1, x2, y2)
    output_size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return roi_align(x, rois, output_size=output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def horizontal_flip(x: Tensor, p: float) -> Tensor:
    """Mirror left-right with probability p per example. [B, C, H, W] -> same."""
    gate = bernoulli_gate(x.shape[0], p, x.device)
    return torch.where(gate[:, None, None, None], x.flip(-1), x)


def to_grayscale(x: Tensor) -> Tensor:
    """``[B, 3, H, W]`` RGB -> ``[B, 1, H, W]`` luma."""
    r, g, b = x.unbind(dim=1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def adjust_colors(x: Tensor, brightness: Tensor, contrast: Tensor, saturation: Tensor) -> Tensor:
    """Brightness -> contrast -> saturation with per-example factors ``[B]`` (1 = unchanged).

    Same definitions as torchvision's ``adjust_brightness/contrast/saturation``: blend with
    black, with the mean luma, with the luma image; each clamped to [0, 1]. Saturation is
    skipped for non-RGB input. [B, C, H, W] -> same.
    """
    rgb = x.shape[1] == 3
    b, c, s = (f.to(x.dtype)[:, None, None, None] for f in (brightness, contrast, saturation))
    out = (b * x).clamp(0.0, 1.0)
    luma = to_grayscale(out) if rgb else out
    mean = luma.mean(dim=(1, 2, 3), keepdim=True)
    out = (c * out + (1.0 - c) * mean).clamp(0.0, 1.0)
    if rgb:
        out = (s * out + (1.0 - s) * to_grayscale(out)).clamp(0.0, 1.0)
    return out


def color_jitter(x: Tensor, p: float, strength: float) -> Tensor:
    """Colour jitter with probability p; each factor ~ U(max(0, 1 - s), 1 + s) per example.

    ``strength`` s is torchvision ColorJitter's brightness = contrast = saturation
    argument (SimCLR's CIFAR setting 0.4 is 0.8 x its s = 0.5). The order is fixed
    (brightness, contrast, saturation) and there is no hue jitter, which needs an HSV
    round trip; torchvision shuffles the order per call. [B, C, H, W] -> same.
    """
    batch = x.shape[0]
    gate = bernoulli_gate(batch, p, x.device)
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    factors = torch.empty(3, batch, device=x.device).uniform_(low, high)
    return torch.where(gate[:, None, None, None], adjust_colors(x, *factors.unbind(0)), x)


def random_grayscale(x: Tensor, p: float) -> Tensor:
    """Replace RGB by its luma (kept as 3 channels) with probability p; no-op for 1 channel."""
    gate = bernoulli_gate(x.shape[0], p, x.device)
    if x.shape[1] != 3:
        return x
    return torch.where(gate[:, None, None, None], to_grayscale(x).expand_as(x), x)


def blur_radius(height: int, width: int) -> int:
    """Kernel radius: side ~10% of the image as in SimCLR, at least 3 taps, below the image side."""
    return min(max(1, round(0.05 * min(height, width))), height - 1, width - 1)


def blur_with_sigma(x: Tensor, sigmas: Tensor, radius: int) -> Tensor:
    """Separable Gaussian blur, one sigma per example (``sigmas: [B]``), reflect padding.

    One depthwise conv over ``B * C`` groups, so each example gets its own kernel; the
    kernel is ``exp(-t^2 / (2 sigma^2))`` on taps -radius..radius, normalised to sum 1.
    [B, C, H, W] -> same.
    """
    batch, channels, height, width = x.shape
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-taps[None, :] ** 2 / (2.0 * sigmas.to(x.dtype)[:, None] ** 2))  # [B, k]
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)  # [B*C, k]
    size = 2 * radius + 1
    flat = x.reshape(1, batch * channels, height, width)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(-1, 1, size, 1), groups=batch * channels)
    flat = F.conv2d(flat, kernel.view(-1, 1, 1, size), groups=batch * channels)
    return flat.view_as(x)


def gaussian_blur(x: Tensor, p: float, sigma: tuple[float, float] = (BLUR_SIGMA_MIN, 2.0)) -> Tensor:
    """Gaussian blur with probability p, sigma ~ U(sigma) per example (SimCLR). [B, C, H, W] -> same."""
    if not 0.0 < sigma[0] <= sigma[1]:
        raise ValueError(f"sigma range must satisfy 0 < sigma[0] <= sigma[1], got {sigma!r}")
    batch, _, height, width = x.shape
    gate = bernoulli_gate(batch, p, x.device)
    sigmas = torch.empty(batch, device=x.device).uniform_(sigma[0], sigma[1])
    radius = blur_radius(height, width)
    if radius < 1:  # a 1-pixel-wide image cannot be blurred with reflect padding
        return x
    return torch.where(gate[:, None, None, None], blur_with_sigma(x, sigmas, radius), x)


def solarize(x: Tensor, p: float, threshold: float = 0.5) -> Tensor:
    """Invert pixels >= threshold (``1 - x``) with probability p per example (BYOL). [B, C, H, W] -> same."""
    gate = bernoulli_gate(x.shape[0], p, x.device)
    return torch.where(gate[:, None, None, None] & (x >= threshold), 1.0 - x, x)
