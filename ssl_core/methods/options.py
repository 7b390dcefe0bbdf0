"""What every method's own ``method.*`` fields are built from: range helpers and the shared fields.

Torch-free and free of ``ssl_core`` imports, so that ``ssl_core.config`` can assemble its
``method:`` section from these dataclasses without importing torch or forming an import cycle.

A method with fields of its own declares them in a ``<method>_options`` module beside its
method file: a dataclass of defaults (one line each, with its reason) whose ``problems(cfg)``
yields ``(field, value, allowed)`` for each bad value. The config's checks raise the first
one as ``method.<field>=<value> is invalid: <allowed>``, the message every other section
gives. Yielding instead of raising keeps these modules free of ``ConfigError``, so they
import nothing that imports the config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterator

#: ``(field, value, allowed)``: the field without its ``method.`` prefix, the bad value and
#: what is allowed, e.g. ``("dino_out_dim", 1, "must be an integer >= 2")``.
Problem = tuple[str, Any, str]


def positive(field: str, value: float) -> Iterator[Problem]:
    if not (math.isfinite(value) and value > 0):
        yield field, value, "must be a finite number > 0"


def non_negative(field: str, value: float) -> Iterator[Problem]:
    if not (math.isfinite(value) and value >= 0):
        yield field, value, "must be a finite number >= 0"


def at_least(field: str, value: int, low: int) -> Iterator[Problem]:
    if value < low:
        yield field, value, f"must be an integer >= {low}"


def within(field: str, value: float, low: float, high: float, include_high: bool = True) -> Iterator[Problem]:
    """``low <= value <= high`` (``< high`` unless include_high); NaN is refused too."""
    inside = low <= value <= high if include_high else low <= value < high
    if not inside:
        yield field, value, f"must be in [{low:g}, {high:g}{']' if include_high else ')'}"


@dataclass
class SharedOptions:
    """Fields several methods read, so they carry no method prefix.

    ``temperature`` is read by SimCLR, SupCon and MoCo, ``momentum_base`` by BYOL, MoCo and
    DINO; ``momentum_final`` is BYOL's end of that same EMA schedule and stays beside it.
    Search spaces tune them across methods (``search_spaces/methods.yaml``).
    """

    name: str = "simclr"  # registered method; see ssl_core.methods.METHODS
    # SimCLR / SupCon / MoCo softmax temperature. SimCLR (Chen et al. 2020): 0.1 on ImageNet at batch 4096 with
    # LARS, 0.5 on CIFAR-10; SupCon (Khosla et al. 2020): 0.1; MoCo v2 (Chen et al. 2020): 0.2. Ours: MoCo
    # v2's value, one default shared by the three methods; the search spaces tune it.
    temperature: float = 0.2
    # BYOL / MoCo / DINO EMA momentum at step 0. BYOL (Grill et al. 2020): tau_base 0.996; DINO (Caron et al.
    # 2021): 0.996; MoCo v1/v2 (He et al. 2020; Chen et al. 2020): 0.999, constant. Ours is lower for short
    # runs: the target averages about 1 / (1 - m) steps (100 at 0.99, 1000 at 0.999) and a 20-epoch birdsong
    # run at batch 64 is about 100 steps, so 0.999 would leave the target near its random init.
    momentum_base: float = 0.99
    # Cosine schedule to this at the last step (BYOL). BYOL (Grill et al. 2020): tau rises to 1, the paper's value.
    momentum_final: float = 1.0

    def problems(self, cfg: Any) -> Iterator[Problem]:
        """``method.name`` is checked against the registry by the config's checks (it needs torch)."""
        yield from positive("temperature", self.temperature)
        yield from within("momentum_base", self.momentum_base, 0, 1)
        yield from within("momentum_final", self.momentum_final, 0, 1)


def section_bases(option_classes: tuple[type, ...]) -> tuple[type, ...]:
    """The bases of a dataclass whose fields are those of ``option_classes``, in that order.

    ``dataclass`` collects inherited fields from the last base to the first, hence the
    reversal. Two classes declaring one field name would silently share it, so that is
    refused here, when ``ssl_core.config`` is imported.
    """
    owner: dict[str, str] = {}
    for cls in option_classes:
        if not dataclasses.is_dataclass(cls) or not callable(getattr(cls, "problems", None)):
            raise TypeError(f"method options {cls.__name__} must be a dataclass with a problems(cfg) method")
        for f in dataclasses.fields(cls):
            if f.name in owner:
                raise TypeError(f"method field {f.name!r} is declared by both {owner[f.name]} and {cls.__name__}")
            owner[f.name] = cls.__name__
    return tuple(reversed(option_classes))
