"""SimSiam (Chen & He 2021): predictor + stop-gradient, no negatives, no momentum encoder."""

from __future__ import annotations

from torch import Tensor

from ssl_core.losses import negative_cosine_similarity
from ssl_core.methods.base import Method
from ssl_core.methods.registry import register_method
from ssl_core.methods.simsiam_options import SimSiamOptions
from ssl_core.models import prediction_head


@register_method("simsiam")
class SimSiam(Method):
    """``loss = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2`` with D the negative cosine.

    The stop-gradient ``sg`` is what keeps SimSiam from collapsing; ``method.stop_gradient
    = false`` removes it so the collapse can be shown (emb_std falls toward 0).
    """

    supports_local_views = False
    options = SimSiamOptions  # method.* fields and their checks

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # SimSiam's projector ends in a BN without affine parameters.
        self.projector = self.projector_from_config(default_last_bn=True)
        self.predictor = prediction_head(self.model_cfg.embedding_dim, self.model_cfg.pred_hidden_dim)

    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        z1 = self.projector(self.backbone(views[0]))
        z2 = self.projector(self.backbone(views[1]))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        if self.method_cfg.stop_gradient:
            z1, z2 = z1.detach(), z2.detach()  # the stop-gradient
        loss = 0.5 * negative_cosine_similarity(p1, z2) + 0.5 * negative_cosine_similarity(p2, z1)
        return loss, {}
