"""Barlow Twins' own ``method.*`` fields (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem, non_negative


@dataclass
class BarlowTwinsOptions:
    barlow_lambda: float = 5e-3  # Barlow Twins off-diagonal weight

    def problems(self, cfg: Any) -> Iterator[Problem]:
        yield from non_negative("barlow_lambda", self.barlow_lambda)
