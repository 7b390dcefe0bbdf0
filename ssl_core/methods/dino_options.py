"""DINO's own ``method.*`` fields (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem, at_least, non_negative, positive, within


@dataclass
class DinoOptions:
    # DINO (Caron et al. 2021) is the source of every default here. Its paper trains with a teacher temperature
    # rising linearly from 0.04 to 0.07 over the first 30 epochs; its official code's defaults are 0.04 -> 0.04
    # over 0 epochs, which ours follow: a 30-epoch warm-up is longer than our 20-epoch runs
    # (search_spaces/dino.yaml warms up over 2 epochs).
    dino_out_dim: int = 1024  # DINO prototype count; far fewer than ImageNet's 65536 for small data
    dino_student_temp: float = 0.1  # DINO student softmax temperature; the paper's 0.1
    dino_teacher_temp: float = 0.04  # DINO teacher temperature after warm-up (sharpening); paper 0.07, code 0.04
    dino_warmup_teacher_temp: float = 0.04  # teacher temperature at epoch 0; the paper's 0.04
    dino_warmup_teacher_epochs: float = 0.0  # linear teacher-temperature warm-up length; paper 30, code 0
    dino_center_momentum: float = 0.9  # DINO centre EMA; the paper's and code's 0.9

    def problems(self, cfg: Any) -> Iterator[Problem]:
        yield from at_least("dino_out_dim", self.dino_out_dim, 2)
        for name in ("dino_student_temp", "dino_teacher_temp", "dino_warmup_teacher_temp"):
            yield from positive(name, getattr(self, name))
        yield from non_negative("dino_warmup_teacher_epochs", self.dino_warmup_teacher_epochs)
        # 1 would freeze the centre at zero forever: centring would never act.
        yield from within("dino_center_momentum", self.dino_center_momentum, 0, 1, include_high=False)
