"""BYOL (Grill et al. 2020): online network predicts an EMA target network's projection."""

from __future__ import annotations

import torch
from torch import Tensor

from ssl_core.losses import negative_cosine_similarity
from ssl_core.methods.base import Method, cosine_momentum, ema_update, make_target
from ssl_core.methods.registry import register_method
from ssl_core.models import prediction_head


@register_method("byol")
class BYOL(Method):
    """``loss = 2 - 2 cos(q(z_online), z_target)``, symmetrised over the two views.

    The target's momentum follows a cosine schedule from ``method.momentum_base`` to
    ``method.momentum_final`` over the run (BYOL, Grill et al. 2020: tau_base 0.996 rising to 1).
    """

    supports_local_views = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.projector = self.projector_from_config()
        self.predictor = prediction_head(self.model_cfg.embedding_dim, self.model_cfg.pred_hidden_dim)
        self.target_backbone, self.target_projector = make_target(self.backbone, self.projector)

    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        p1 = self.predictor(self.projector(self.backbone(views[0])))
        p2 = self.predictor(self.projector(self.backbone(views[1])))
        with torch.no_grad():  # the target gets no gradient; it moves only by EMA
            t1 = self.target_projector(self.target_backbone(views[0]))
            t2 = self.target_projector(self.target_backbone(views[1]))
        loss = (2 + 2 * negative_cosine_similarity(p1, t2)) + (2 + 2 * negative_cosine_similarity(p2, t1))
        return loss / 2, {"momentum": self.current_momentum()}

    def current_momentum(self) -> float:
        return cosine_momentum(int(self.global_step.item()), self.total_steps,
                               self.method_cfg.momentum_base, self.method_cfg.momentum_final)

    def on_step_end(self, step: int, total_steps: int) -> None:
        momentum = self.current_momentum()
        ema_update(self.target_backbone, self.backbone, momentum)
        ema_update(self.target_projector, self.projector, momentum)
        super().on_step_end(step, total_steps)
