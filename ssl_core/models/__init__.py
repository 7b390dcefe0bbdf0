"""Backbones (timm, by name) and the small heads SSL methods put on top of them."""

from ssl_core.models.backbones import create_backbone, timm_global_pool
from ssl_core.models.heads import MLPHead, projection_head, prediction_head

__all__ = ["create_backbone", "timm_global_pool", "MLPHead", "projection_head", "prediction_head"]
