"""timm backbones by name, randomly initialised, returning pooled features."""

from __future__ import annotations

import timm
from torch import nn


def create_backbone(name: str, in_chans: int) -> nn.Module:
    """A timm model with its classifier removed: ``x [B, C, H, W] -> features [B, F]``.

    ``pretrained=False`` always: nothing is downloaded at run time, and an SSL search
    measures what the method learns, not what ImageNet taught. ``in_chans=1`` for
    log-mel spectrograms. The feature width is ``model.num_features``.
    """
    if not timm.is_model(name):
        raise ValueError(f"unknown backbone {name!r}: use a timm model name (see timm.list_models())")
    return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
