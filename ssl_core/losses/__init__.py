"""Pure SSL loss functions (no state, no distributed calls) and small stateful helpers."""

from ssl_core.losses.barlow_twins import barlow_twins_loss
from ssl_core.losses.contrastive import contrastive_loss, info_nce_with_queue
from ssl_core.losses.dino import DinoCenter, dino_loss, teacher_temperature
from ssl_core.losses.negative_cosine import negative_cosine_similarity
from ssl_core.losses.vicreg import vicreg_loss

__all__ = [
    "DinoCenter",
    "barlow_twins_loss",
    "contrastive_loss",
    "dino_loss",
    "info_nce_with_queue",
    "negative_cosine_similarity",
    "teacher_temperature",
    "vicreg_loss",
]
