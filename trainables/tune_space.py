"""Search-space distributions -> Ray Tune sampling objects (which OptunaSearch converts)."""

from __future__ import annotations

from typing import Any

from ray import tune

from search_spaces import Distribution, SearchSpace


def to_tune(dist: Distribution) -> Any:
    kind = dist.kind
    if kind == "uniform":
        return tune.uniform(dist.low, dist.high)
    if kind == "loguniform":
        return tune.loguniform(dist.low, dist.high)
    if kind == "quniform":
        return tune.quniform(dist.low, dist.high, dist.q)
    if kind == "qloguniform":
        return tune.qloguniform(dist.low, dist.high, dist.q)
    # Our int ranges include their upper bound (as Optuna's suggest_int); Tune's exclude it.
    if kind == "int":
        return tune.randint(int(dist.low), int(dist.high) + 1)
    if kind == "log_int":
        return tune.lograndint(int(dist.low), int(dist.high) + 1)
    if kind == "choice":
        return tune.choice(list(dist.choices))
    raise ValueError(f"distribution kind {kind!r} has no Tune equivalent")


def tune_param_space(space: SearchSpace) -> dict[str, Any]:
    """``{"method.temperature": tune.loguniform(...), ...}``: keys stay dotted config keys."""
    return {key: to_tune(dist) for key, dist in space.params.items()}
