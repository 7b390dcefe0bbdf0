"""VICReg (Bardes et al. 2022): variance, invariance and covariance terms."""

from __future__ import annotations

from torch import Tensor

from ssl_core.distributed import gather_with_grad
from ssl_core.losses import vicreg_loss
from ssl_core.methods.base import Method
from ssl_core.methods.registry import register_method
from ssl_core.methods.vicreg_options import VICRegOptions


@register_method("vicreg")
class VICReg(Method):
    """Keeps each embedding dimension's std above 1 (variance), pulls views together
    (invariance) and decorrelates dimensions (covariance), over the global batch."""

    supports_local_views = False
    options = VICRegOptions  # method.* fields and their checks

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.projector = self.projector_from_config()

    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        z1 = gather_with_grad(self.projector(self.backbone(views[0])))
        z2 = gather_with_grad(self.projector(self.backbone(views[1])))
        c = self.method_cfg
        loss = vicreg_loss(z1.float(), z2.float(), c.vicreg_sim_weight, c.vicreg_var_weight, c.vicreg_cov_weight)
        return loss, {}
