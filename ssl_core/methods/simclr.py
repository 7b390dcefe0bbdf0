"""SimCLR (Chen et al. 2020): NT-Xent between views of the same item over the global batch."""

from __future__ import annotations

import torch
from torch import Tensor

from ssl_core.distributed import gather_with_grad
from ssl_core.losses import contrastive_loss
from ssl_core.methods.base import Method, instance_ids
from ssl_core.methods.registry import register_method


@register_method("simclr")
class SimCLR(Method):
    """Every view of an item is a positive of every other; all other items are negatives.

    Negatives come from the *global* batch: embeddings are gathered across workers with
    gradients (``gather_with_grad``). Gradient accumulation would not add negatives, so
    the trainer never offers it as a substitute for a larger batch.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.projector = self.projector_from_config()

    def positive_ids(self, labels: Tensor, batch_size: int, num_views: int) -> Tensor:
        return instance_ids(batch_size, num_views, labels.device)

    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        batch_size = views[0].shape[0]
        # Local views have another shape, so the backbone runs once per view size.
        z = torch.cat([gather_with_grad(self.projector(self.backbone(v))) for v in views])
        ids = self.positive_ids(labels, batch_size, len(views))
        ids = torch.cat([gather_with_grad(chunk) for chunk in ids.chunk(len(views))])
        loss = contrastive_loss(z, ids, self.method_cfg.temperature)
        return loss, {}
