"""DINO's own ``method.*`` fields (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem, at_least, non_negative, positive, within


@dataclass
class DinoOptions:
    dino_out_dim: int = 1024  # DINO prototype count; far fewer than ImageNet's 65536 for small data
    dino_student_temp: float = 0.1  # DINO student softmax temperature
    dino_teacher_temp: float = 0.04  # DINO teacher temperature after warm-up (sharpening)
    dino_warmup_teacher_temp: float = 0.04  # teacher temperature at epoch 0
    dino_warmup_teacher_epochs: float = 0.0  # linear teacher-temperature warm-up length
    dino_center_momentum: float = 0.9  # DINO centre EMA

    def problems(self, cfg: Any) -> Iterator[Problem]:
        yield from at_least("dino_out_dim", self.dino_out_dim, 2)
        for name in ("dino_student_temp", "dino_teacher_temp", "dino_warmup_teacher_temp"):
            yield from positive(name, getattr(self, name))
        yield from non_negative("dino_warmup_teacher_epochs", self.dino_warmup_teacher_epochs)
        # 1 would freeze the centre at zero forever: centring would never act.
        yield from within("dino_center_momentum", self.dino_center_momentum, 0, 1, include_high=False)
