"""Multi-view maker for images: uint8 ``[B, C, H, W]`` -> augmented, normalised float views."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ssl_core.augment import image
from ssl_core.augment.checks import check_image
from ssl_core.config import AugmentConfig
from ssl_core.frontends import ImageFrontend, fp32_region

LOCAL_SCALE_MIN = 0.05  # DINO's local crops cover 5%..crop_scale_min of the image area


class ImageViewMaker(nn.Module):
    """SimCLR/BYOL-style views, batched with per-example parameters, plus DINO local crops.

    Per view: random resized crop (``roi_align``, one box per example) -> horizontal flip
    -> colour jitter -> random grayscale -> Gaussian blur -> solarise -> normalise.
    Global crops cover an area fraction in ``[crop_scale_min, 1]``; local crops in
    ``[min(0.05, crop_scale_min), crop_scale_min]`` (DINO, Caron et al. 2021), at side
    ``max(8, round(local_crop_fraction * image_size))``.

    Every knob comes from ``AugmentConfig``: the crop's aspect ratio (w / h) is log-uniform
    in ``[1 / crop_ratio_max, crop_ratio_max]`` (1 disables the aspect jitter) and the blur
    sigma uniform in ``[0.1, blur_sigma_max]``. With ``crop_scale_min = 1`` crops are the
    whole image anyway (see ``image.sample_crop_boxes``), so all probabilities 0 make global
    views equal ``embed_input``.

    Randomness comes from torch's global RNG (``torch.manual_seed`` makes views
    reproducible; the trainer checkpoints that state), as in ``audio``.

    ``embed_input`` resizes with the same ``roi_align`` sampler over the full image, so a
    scale-1 training view and the evaluation input are the same pixels at any input size.
    This equals ``ImageFrontend`` (antialiased bilinear) when the input is no larger than
    ``image_size``; when shrinking, roi_align averages ceil(H / S) bilinear samples per
    output pixel instead of PIL's triangle filter.
    """

    def __init__(
        self,
        augment: AugmentConfig,
        image_size: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        check_image(augment)
        self.cfg = augment
        self.frontend = ImageFrontend(image_size, mean, std)
        self.image_size = image_size
        self.ratio = (1.0 / float(augment.crop_ratio_max), float(augment.crop_ratio_max))
        self.blur_sigma = (image.BLUR_SIGMA_MIN, float(augment.blur_sigma_max))
        self.global_scale = (float(augment.crop_scale_min), 1.0)
        self.local_scale = (min(LOCAL_SCALE_MIN, float(augment.crop_scale_min)), float(augment.crop_scale_min))
        self.local_size = max(8, round(augment.local_crop_fraction * image_size))

    @torch.no_grad()
    def forward(self, images: Tensor, num_global: int = 2) -> list[Tensor]:
        """Make views of ``images: uint8 [B, C, H, W]``.

        Returns:
            ``num_global`` tensors ``[B, C, S, S]`` (S = image_size), then
            ``num_local_crops`` tensors ``[B, C, s, s]`` (s = local side), float32 on
            ``images.device``.
        """
        if not isinstance(num_global, int) or num_global < 1:
            raise ValueError(f"num_global must be an integer >= 1, got {num_global!r}")
        x = self.frontend.to_unit(images)
        with fp32_region(x.device):
            views = [self._view(x, self.image_size, self.global_scale) for _ in range(num_global)]
            views += [self._view(x, self.local_size, self.local_scale) for _ in range(self.cfg.num_local_crops)]
        return views

    @torch.no_grad()
    def embed_input(self, images: Tensor) -> Tensor:
        """Deterministic evaluation input: uint8 ``[B, C, H, W]`` -> ``[B, C, S, S]`` (resize + normalise)."""
        x = self.frontend.to_unit(images)
        boxes = image.full_boxes(x.shape[0], x.shape[2], x.shape[3], x.device)
        with fp32_region(x.device):
            return self.frontend.normalise(image.crop_resize(x, boxes, self.image_size))

    def _view(self, x: Tensor, size: int, scale: tuple[float, float]) -> Tensor:
        """One augmented view of ``x: [B, C, H, W]`` in [0, 1] -> ``[B, C, size, size]``."""
        cfg = self.cfg
        boxes = image.sample_crop_boxes(x.shape[0], x.shape[2], x.shape[3], scale, self.ratio, x.device)
        v = image.crop_resize(x, boxes, size)
        v = image.horizontal_flip(v, cfg.flip_p)
        v = image.color_jitter(v, cfg.jitter_p, cfg.jitter_strength)
        v = image.random_grayscale(v, cfg.grayscale_p)
        v = image.gaussian_blur(v, cfg.blur_p, self.blur_sigma)
        v = image.solarize(v, cfg.solarize_p)
        return self.frontend.normalise(v)
