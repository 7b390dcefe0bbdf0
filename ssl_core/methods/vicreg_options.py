"""VICReg's own ``method.*`` fields (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem, non_negative


@dataclass
class VICRegOptions:
    # VICReg (Bardes et al. 2022): lambda = mu = 25, nu = 1, the paper's values (with an 8192-dim projector).
    vicreg_sim_weight: float = 25.0  # VICReg invariance weight (lambda)
    vicreg_var_weight: float = 25.0  # VICReg variance weight (mu)
    vicreg_cov_weight: float = 1.0  # VICReg covariance weight (nu)

    def problems(self, cfg: Any) -> Iterator[Problem]:
        for name in ("vicreg_sim_weight", "vicreg_var_weight", "vicreg_cov_weight"):
            yield from non_negative(name, getattr(self, name))
