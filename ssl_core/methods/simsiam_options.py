"""SimSiam's own ``method.*`` field (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem


@dataclass
class SimSiamOptions:
    # SimSiam (Chen & He 2021): the method has the stop-gradient; the paper shows removing it collapses the output.
    stop_gradient: bool = True  # SimSiam's stop-gradient; False exists to demonstrate collapse

    def problems(self, cfg: Any) -> Iterator[Problem]:
        return iter(())  # a boolean: the config's type coercion already refused anything else
