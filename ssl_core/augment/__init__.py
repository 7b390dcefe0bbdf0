"""Batched, on-device SSL augmentations and multi-view makers for audio and images.

``AudioViewMaker`` / ``ImageViewMaker`` are what the trainer calls; ``audio``,
``audio_level``, ``audio_warp`` and ``image`` hold the individual per-example augmentations
they compose. ``python -m ssl_core.augment.preview`` draws views of a dataset to a PNG.
"""

from ssl_core.augment import audio, audio_level, audio_warp, image
from ssl_core.augment.audio_views import AudioViewMaker
from ssl_core.augment.image_views import ImageViewMaker

__all__ = ["AudioViewMaker", "ImageViewMaker", "audio", "audio_level", "audio_warp", "image"]
