"""Supervised cross-entropy: the reference every SSL number is read against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_core.methods.base import Method
from ssl_core.methods.registry import register_method


@register_method("supervised")
class Supervised(Method):
    """A linear classifier on the backbone, trained with cross-entropy on every view.

    Same backbone, data, augmentations and evaluation as the SSL methods, so its kNN
    accuracy is the ceiling an SSL configuration is compared with.
    """

    uses_labels = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.classifier = nn.Linear(self.feature_dim, self.num_classes)

    def project(self, x: Tensor) -> Tensor:
        return self.classifier(self.backbone(x))

    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        losses = [F.cross_entropy(self.classifier(self.backbone(v)), labels) for v in views]
        return torch.stack(losses).mean(), {}
