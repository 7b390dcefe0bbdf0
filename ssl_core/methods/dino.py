"""DINO (Caron et al. 2021): self-distillation with a centred, sharpened EMA teacher."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_core.distributed import all_reduce_mean
from ssl_core.losses import DinoCenter, dino_loss, teacher_temperature
from ssl_core.methods.base import Method, cosine_momentum, ema_update, make_target
from ssl_core.methods.dino_options import DinoOptions
from ssl_core.methods.registry import register_method
from ssl_core.models import MLPHead


class DinoHead(nn.Module):
    """MLP -> L2-normalised bottleneck -> weight-normalised prototypes, ``[N, F] -> [N, K]``.

    The last layer's rows are normalised in ``forward`` (weight norm with the gain fixed
    at 1, DINO's ``norm_last_layer``), which keeps the teacher from collapsing onto a
    few large-norm prototypes.
    """

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, out_dim: int, layers: int) -> None:
        super().__init__()
        self.mlp = MLPHead(in_dim, hidden_dim, bottleneck_dim, num_layers=max(layers, 1), batch_norm=False)
        self.prototypes = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        # Rows are normalised in forward, so only their directions matter; std 0.02 is the truncated-normal
        # init DINO's official code gives its head's linear layers.
        nn.init.trunc_normal_(self.prototypes, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        x = F.normalize(self.mlp(x), dim=-1)
        return x @ F.normalize(self.prototypes, dim=-1).t()


@register_method("dino")
class DINO(Method):
    """Student sees every view (global and local); the teacher sees the global views.

    ``loss = sum_{i != j} H(teacher_i, student_j)`` with teacher probabilities centred
    (``DinoCenter``) and sharpened (teacher temperature with warm-up), the teacher an EMA
    of the student with a cosine momentum schedule. Multi-crop: set
    ``augment.num_local_crops``.
    """

    options = DinoOptions  # method.* fields and their checks

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        m = self.model_cfg
        self.head = DinoHead(self.feature_dim, m.proj_hidden_dim, m.embedding_dim,
                             self.method_cfg.dino_out_dim, m.proj_layers)
        self.teacher_backbone, self.teacher_head = make_target(self.backbone, self.head)
        self.center = DinoCenter(self.method_cfg.dino_out_dim, self.method_cfg.dino_center_momentum)
        self.num_global_views = 2  # DINO (Caron et al. 2021): two global views, the rest local

    def project(self, x: Tensor) -> Tensor:
        return F.normalize(self.head.mlp(self.backbone(x)), dim=-1)

    def training_step(self, views: list[Tensor], labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        c = self.method_cfg
        global_views = views[: self.num_global_views]
        student = [self.head(self.backbone(v)) for v in views]
        with torch.no_grad():
            teacher = [self.teacher_head(self.teacher_backbone(v)) for v in global_views]
        t_temp = teacher_temperature(self.epoch_progress, c.dino_warmup_teacher_temp,
                                     c.dino_teacher_temp, c.dino_warmup_teacher_epochs)
        loss = dino_loss(student, [t.detach() for t in teacher], self.center.center,
                         c.dino_student_temp, t_temp)
        self._teacher_mean = torch.cat(teacher).mean(dim=0, keepdim=True)
        with torch.no_grad():
            # The cross-entropy is H(teacher) + KL(teacher || student). Early in training
            # centring spreads the teacher, so H (and the loss) rises while KL, the part the
            # student controls, falls: log both so a rising DINO loss can be read correctly.
            probs = [torch.softmax((t.float() - self.center.center) / t_temp, dim=-1) for t in teacher]
            entropy = torch.stack([-(p * torch.log(p.clamp_min(1e-12))).sum(-1).mean() for p in probs]).mean()
        return loss, {"teacher_temp": t_temp, "teacher_entropy": float(entropy),
                      "kl": float(loss.detach()) - float(entropy)}

    def on_step_end(self, step: int, total_steps: int) -> None:
        # DINO (Caron et al. 2021): cosine from 0.996 to 1 during training; the start is method.momentum_base.
        momentum = cosine_momentum(step, total_steps, self.method_cfg.momentum_base, 1.0)
        ema_update(self.teacher_backbone, self.backbone, momentum)
        ema_update(self.teacher_head, self.head, momentum)
        pending = getattr(self, "_teacher_mean", None)
        if pending is not None:
            self.center.update(all_reduce_mean(pending))
            self._teacher_mean = None
        super().on_step_end(step, total_steps)
