"""Batched, on-device SSL augmentations and multi-view makers for audio and images.

``AudioViewMaker`` / ``ImageViewMaker`` are what the trainer calls; ``audio`` and
``image`` hold the individual per-example augmentations they compose.
"""

from ssl_core.augment import audio, image
from ssl_core.augment.audio_views import AudioViewMaker
from ssl_core.augment.image_views import ImageViewMaker

__all__ = ["AudioViewMaker", "ImageViewMaker", "audio", "image"]
