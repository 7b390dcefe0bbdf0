"""The interface every SSL method implements, and the parts they share."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from ssl_core.distributed import rank
from ssl_core.models import projection_head


class Method(nn.Module):
    """A backbone plus whatever a method trains on top of it.

    Subclasses implement ``training_step(views, labels) -> (loss, logs)`` where
    ``views`` is a list of ``[B, C, H, W]`` tensors (the first ``num_global_views`` are
    global views; any further ones are smaller local crops) and ``labels`` is ``[B]``.
    ``forward`` calls ``training_step`` so DistributedDataParallel can wrap a method.

    ``model_cfg`` and ``method_cfg`` are the config's ``model`` and ``method`` sections, read
    by attribute: ``ssl_core.config`` builds its method section from this package, so
    importing it here (even for annotations) would be an import cycle.
    """

    #: whether training needs class labels (SupCon, supervised); SSL methods ignore them
    uses_labels: bool = False
    #: whether the method can use local (multi-crop) views
    supports_local_views: bool = True
    #: the dataclass of this method's own ``method.*`` fields (its ``<method>_options``
    #: module, listed in ``ssl_core.methods.METHOD_OPTIONS``), or None if it has none
    options: type | None = None

    def __init__(self, backbone: nn.Module, feature_dim: int, model_cfg: Any,
                 method_cfg: Any, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.model_cfg = model_cfg
        self.method_cfg = method_cfg
        self.num_classes = num_classes
        # A buffer, not a python int, so the step travels with the state_dict and a
        # resumed run continues its momentum / temperature schedules where they were.
        self.register_buffer("global_step", torch.zeros((), dtype=torch.long))
        self.steps_per_epoch = 1
        self.total_steps = 1

    # -- schedule -----------------------------------------------------------------
    def configure_schedule(self, steps_per_epoch: int, total_steps: int) -> None:
        """Called once by the trainer before training."""
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.total_steps = max(1, total_steps)

    @property
    def epoch_progress(self) -> float:
        """Fractional epoch of the current step (for DINO's teacher-temperature warm-up)."""
        return float(self.global_step.item()) / self.steps_per_epoch

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step: EMA targets, momentum schedules, queues."""
        self.global_step.fill_(step + 1)

    # -- training -----------------------------------------------------------------
    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError

    def forward(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        return self.training_step(views, labels)

    # -- evaluation ---------------------------------------------------------------
    def embed(self, x: Tensor) -> Tensor:
        """Backbone features ``[B, F]`` used by kNN and the linear probe."""
        return self.backbone(x)

    def project(self, x: Tensor) -> Tensor:
        """Embedding the loss sees ``[B, E]``; methods without a projector return features."""
        projector = getattr(self, "projector", None)
        features = self.backbone(x)
        return projector(features) if projector is not None else features

    def projector_from_config(self, default_last_bn: bool = False) -> nn.Module:
        """The projector; ``model.proj_output_bn="auto"`` keeps the method's paper default."""
        m = self.model_cfg
        last_bn = default_last_bn if m.proj_output_bn == "auto" else m.proj_output_bn == "on"
        return projection_head(self.feature_dim, m.proj_hidden_dim, m.embedding_dim,
                               m.proj_layers, m.proj_batch_norm, last_bn)


def instance_ids(batch_size: int, num_views: int, device: torch.device) -> Tensor:
    """Positive ids for NT-Xent over gathered views: ``[num_views * world * B]``.

    Each rank's items get ids offset by ``rank * B`` before gathering, so views of one
    item share an id and no two ranks' items collide.
    """
    ids = torch.arange(batch_size, device=device) + rank() * batch_size
    return ids.repeat(num_views)


def make_target(*modules: nn.Module) -> list[nn.Module]:
    """Frozen copies of ``modules`` for an EMA teacher / target / key encoder."""
    copies = []
    for module in modules:
        target = copy.deepcopy(module)
        for p in target.parameters():
            p.requires_grad_(False)
        copies.append(target)
    return copies


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``target = m * target + (1 - m) * online`` for parameters; buffers are copied."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)
    for t, o in zip(target.buffers(), online.buffers()):
        t.copy_(o)


def cosine_momentum(step: int, total_steps: int, base: float, final: float) -> float:
    """BYOL's schedule: ``final - (final - base) * (cos(pi * step / total) + 1) / 2``."""
    progress = min(max(step / max(1, total_steps), 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
