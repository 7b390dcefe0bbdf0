"""DINO self-distillation loss, its teacher centre and its teacher-temperature warm-up.

Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers",
https://arxiv.org/abs/2104.14294
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def dino_loss(
    student_logits: list[Tensor],
    teacher_logits: list[Tensor],
    center: Tensor,
    student_temp: float,
    teacher_temp: float,
) -> Tensor:
    """Cross-entropy between centred, sharpened teacher and student distributions.

    For teacher view i and student view j with i != j (a view is never matched with
    itself), H(i, j) = mean_n -sum_k p_t[i, n, k] log p_s[j, n, k] with
        p_t = softmax((t - center) / teacher_temp),  log p_s = log_softmax(s / student_temp).
    The loss is the mean of H over all such (i, j) pairs.

    No stop-gradient here: the calling method detaches the teacher logits.

    Args:
        student_logits: V_s tensors [N, K]; the first len(teacher_logits) are the global
            views, in the teacher's order; the rest are local crops.
        teacher_logits: V_t tensors [N, K] (global views only).
        center: [K] or [1, K] running mean of teacher logits (see DinoCenter).
        student_temp: student temperature > 0 (0.1 in the paper).
        teacher_temp: teacher temperature > 0 (0.04-0.07 in the paper).

    Returns:
        Scalar loss.
    """
    _check_positive("student_temp", student_temp)
    _check_positive("teacher_temp", teacher_temp)
    if len(student_logits) == 0 or len(teacher_logits) == 0:
        raise ValueError(
            f"need at least one student and one teacher view, got "
            f"{len(student_logits)} and {len(teacher_logits)}"
        )
    shape = teacher_logits[0].shape
    if len(shape) != 2:
        raise ValueError(f"logits must be [N, K], got shape {tuple(shape)}")
    for x in [*student_logits, *teacher_logits]:
        if x.shape != shape:
            raise ValueError(
                f"all student and teacher logits must share one shape {tuple(shape)}, "
                f"got {tuple(x.shape)}"
            )
    if center.shape not in (torch.Size([shape[1]]), torch.Size([1, shape[1]])):
        raise ValueError(
            f"center must be [K] or [1, K] with K={shape[1]}, got {tuple(center.shape)}"
        )
    # Pairs with i == j are skipped, so one teacher view and one student view leave nothing.
    n_pairs = len(teacher_logits) * len(student_logits) - min(
        len(teacher_logits), len(student_logits)
    )
    if n_pairs == 0:
        raise ValueError(
            "dino_loss needs at least one (teacher view, student view) pair with "
            f"different view indices; got {len(teacher_logits)} teacher and "
            f"{len(student_logits)} student views"
        )

    teacher_probs = [F.softmax((t - center) / teacher_temp, dim=-1) for t in teacher_logits]
    student_log_probs = [F.log_softmax(s / student_temp, dim=-1) for s in student_logits]
    total = teacher_probs[0].new_zeros(())
    for i, p_t in enumerate(teacher_probs):
        for j, log_p_s in enumerate(student_log_probs):
            if i == j:
                continue  # same view seen by both networks: trivially easy, skipped
            total = total + (-(p_t * log_p_s).sum(dim=-1)).mean()
    return total / n_pairs


class DinoCenter(nn.Module):
    """EMA of the teacher's mean logits, subtracted before the teacher softmax.

    Centring stops one dimension dominating (collapse to a one-hot); sharpening with a
    low teacher temperature stops collapse to uniform (Caron et al. 2021, Sec. 3.1).

    Buffer:
        center: [1, dim], starts at zeros.
    """

    center: Tensor

    def __init__(self, dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.register_buffer("center", torch.zeros(1, dim))

    @torch.no_grad()
    def update(self, batch_center: Tensor) -> None:
        """center <- m * center + (1 - m) * batch_center.

        Args:
            batch_center: [1, dim] or [dim], mean of the teacher logits over the (global,
                all-worker) batch and teacher views; the caller computes and gathers it.
        """
        dim = self.center.shape[1]
        if batch_center.shape not in (torch.Size([dim]), torch.Size([1, dim])):
            raise ValueError(
                f"batch_center must be [{dim}] or [1, {dim}], got {tuple(batch_center.shape)}"
            )
        bc = batch_center.detach().reshape(1, dim).to(self.center.dtype)
        self.center.mul_(self.momentum).add_(bc, alpha=1.0 - self.momentum)


def teacher_temperature(
    epoch: float, warmup_teacher_temp: float, teacher_temp: float, warmup_epochs: float
) -> float:
    """Linear warm-up of the teacher temperature, then constant.

    T(epoch) = warmup_teacher_temp + (teacher_temp - warmup_teacher_temp) * min(epoch / warmup_epochs, 1),
    and teacher_temp throughout when warmup_epochs == 0. ``epoch`` may be fractional
    (per-step schedules).

    Note: the official DINO code (and lightly) use
    ``np.linspace(warmup, final, warmup_epochs)`` indexed by integer epoch, which reaches
    ``teacher_temp`` at epoch warmup_epochs - 1; here it is reached at warmup_epochs.
    """
    _check_positive("warmup_teacher_temp", warmup_teacher_temp)
    _check_positive("teacher_temp", teacher_temp)
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if warmup_epochs == 0 or epoch >= warmup_epochs:
        return float(teacher_temp)
    frac = epoch / warmup_epochs
    return float(warmup_teacher_temp + (teacher_temp - warmup_teacher_temp) * frac)
