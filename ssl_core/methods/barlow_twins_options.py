"""Barlow Twins' own ``method.*`` fields (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem, non_negative


@dataclass
class BarlowTwinsOptions:
    # Barlow Twins off-diagonal weight. Barlow Twins (Zbontar et al. 2021): lambda = 5e-3 (the official code:
    # 0.0051), the paper's value, chosen there with an 8192-dim projector; ours keeps it at our 128-dim embedding,
    # not re-derived for it (search_spaces/barlow.yaml searches 1e-3 to 2e-2).
    barlow_lambda: float = 5e-3

    def problems(self, cfg: Any) -> Iterator[Problem]:
        yield from non_negative("barlow_lambda", self.barlow_lambda)
