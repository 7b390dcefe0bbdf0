"""TensorBoard scalars through torch.utils.tensorboard, written by rank 0 only."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

from torch.utils.tensorboard import SummaryWriter


class ScalarLog:
    """``scalars("eval", {"knn_top1": 41.0}, step)`` writes ``eval/knn_top1``.

    With ``log_dir=None`` (non-zero ranks) every call is a no-op, so the training loop
    does not branch on the rank.
    """

    def __init__(self, log_dir: Path | None) -> None:
        self._writer = SummaryWriter(log_dir=str(log_dir)) if log_dir is not None else None

    def scalars(self, prefix: str, values: Mapping[str, float], step: int) -> None:
        if self._writer is None:
            return
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(f"{prefix}/{name}", value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
