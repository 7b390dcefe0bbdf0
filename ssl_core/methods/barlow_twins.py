"""Barlow Twins (Zbontar et al. 2021): make the views' cross-correlation the identity."""

from __future__ import annotations

from torch import Tensor

from ssl_core.distributed import gather_with_grad
from ssl_core.losses import barlow_twins_loss
from ssl_core.methods.base import Method
from ssl_core.methods.barlow_twins_options import BarlowTwinsOptions
from ssl_core.methods.registry import register_method


@register_method("barlow")
class BarlowTwins(Method):
    """Invariance on the diagonal, redundancy reduction off it; no negatives, no EMA.

    The cross-correlation is computed over the global batch (gathered with gradients),
    because per-worker statistics on small shards are noisy.
    """

    supports_local_views = False
    options = BarlowTwinsOptions  # method.* fields and their checks

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.projector = self.projector_from_config()

    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        z1 = gather_with_grad(self.projector(self.backbone(views[0])))
        z2 = gather_with_grad(self.projector(self.backbone(views[1])))
        return barlow_twins_loss(z1.float(), z2.float(), self.method_cfg.barlow_lambda), {}
