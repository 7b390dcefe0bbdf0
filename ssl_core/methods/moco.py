"""MoCo v2 (Chen et al. 2020): momentum key encoder and a queue of negatives."""

from __future__ import annotations

import torch
from torch import Tensor

from ssl_core.distributed import gather_no_grad
from ssl_core.losses import info_nce_with_queue
from ssl_core.methods.base import Method, ema_update, make_target
from ssl_core.methods.moco_options import MoCoOptions
from ssl_core.methods.queue import KeyQueue
from ssl_core.methods.registry import register_method


@register_method("moco")
class MoCo(Method):
    """InfoNCE of a query against its momentum-encoded key and ``method.queue_size`` older keys.

    Negatives come from the queue, not the batch, so MoCo tolerates small batches; the
    queue should be smaller than the train split, or an item meets its own stale key as
    a negative. Symmetrised over the two views; key encoder momentum is
    ``method.momentum_base`` (constant, as in MoCo).
    """

    supports_local_views = False
    options = MoCoOptions  # method.* fields and their checks

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.projector = self.projector_from_config()
        self.key_backbone, self.key_projector = make_target(self.backbone, self.projector)
        self.queue = KeyQueue(self.method_cfg.queue_size, self.model_cfg.embedding_dim)

    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        q1 = self.projector(self.backbone(views[0]))
        q2 = self.projector(self.backbone(views[1]))
        with torch.no_grad():  # keys carry no gradient: the key encoder moves by EMA only
            k1 = self.key_projector(self.key_backbone(views[0])).detach()
            k2 = self.key_projector(self.key_backbone(views[1])).detach()
        negatives = self.queue.keys.clone().detach()
        t = self.method_cfg.temperature
        loss = 0.5 * (info_nce_with_queue(q1, k2, negatives, t) + info_nce_with_queue(q2, k1, negatives, t))
        self._pending_keys = torch.cat([k1, k2])
        return loss, {}

    def on_step_end(self, step: int, total_steps: int) -> None:
        ema_update(self.key_backbone, self.backbone, self.method_cfg.momentum_base)
        ema_update(self.key_projector, self.projector, self.method_cfg.momentum_base)
        pending = getattr(self, "_pending_keys", None)
        if pending is not None:
            # Every worker enqueues every worker's keys, so queues stay identical.
            self.queue.update(gather_no_grad(pending))
            self._pending_keys = None
        super().on_step_end(step, total_steps)
