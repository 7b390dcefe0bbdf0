"""timm backbones by name, randomly initialised, returning pooled features."""

from __future__ import annotations

import timm
from torch import nn

#: ``model.global_pool`` values. "auto": "avgmax" for audio (log-mel spectrograms), the model's
#: own pooling for images; "timm": the model's own (average for CNNs, the class token for ViTs);
#: or a timm pooling type that keeps the feature width at ``num_features`` (timm's "catavgmax"
#: doubles it, which heads sized by ``num_features`` would not fit).
GLOBAL_POOLS = ("auto", "timm", "avg", "max", "avgmax")


def timm_global_pool(setting: str, modality: str) -> str:
    """The timm ``global_pool`` argument for ``model.global_pool`` on ``modality`` ("audio" or
    "image"); "" leaves timm's default for the model.

    Why "avgmax" for audio: a call is a short loud event in a window that is mostly background, and
    averaging the last feature map dilutes it; audio encoders add the max and the mean over time
    (PANNs, Kong et al. 2020; BYOL-A, Niizumi et al. 2021). Measured on the embedded birdsong
    (SimCLR, 36 steps, 2 seeds, bench/recipe_ab.py): val kNN +3.7 (95 % CI +1.0..+6.5) over
    average pooling (docs/recipes.md). Image SSL recipes pool by average, as timm's CNNs do.
    """
    if setting == "auto":
        return "avgmax" if modality == "audio" else ""
    return "" if setting == "timm" else setting


def create_backbone(name: str, in_chans: int, global_pool: str = "") -> nn.Module:
    """A timm model with its classifier removed: ``x [B, C, H, W] -> features [B, F]``.

    ``pretrained=False`` always: nothing is downloaded at run time, and an SSL search
    measures what the method learns, not what ImageNet taught. ``in_chans=1`` for
    log-mel spectrograms. The feature width is ``model.num_features``; ``global_pool`` is
    timm's pooling of the last feature map (:func:`timm_global_pool`; "" keeps the model's own).
    """
    if not timm.is_model(name):
        raise ValueError(f"unknown backbone {name!r}: use a timm model name (see timm.list_models())")
    pooling = {"global_pool": global_pool} if global_pool else {}
    return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans, **pooling)
