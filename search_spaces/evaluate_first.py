"""A space's ``evaluate_first``: whole configurations the search runs before Optuna proposes any."""

from __future__ import annotations

from typing import Any

from search_spaces.distributions import Distribution, format_value
from search_spaces.errors import SearchSpaceError


def parse_evaluate_first(raw: Any, params: dict[str, Distribution], trials: int) -> tuple[dict[str, Any], ...]:
    """``evaluate_first``: configurations the search runs before Optuna proposes any (the user's
    current settings, a published recipe). Each sets every searched param (Ray's warm start
    takes whole points only) to a value its distribution can give."""
    example = f"evaluate_first: [{{{next(iter(params), 'method.temperature')}: ...}}]"
    if not isinstance(raw, list):
        raise SearchSpaceError(f"evaluate_first must be a list of mappings of searched params to values, like "
                               f"{example}; got a {type(raw).__name__}")
    if len(raw) > trials:
        raise SearchSpaceError(f"evaluate_first lists {len(raw)} configurations but the budget runs {trials} trials; "
                               "list fewer or raise budget.trials")
    points = []
    for i, point in enumerate(raw):
        if not isinstance(point, dict) or not point:
            raise SearchSpaceError(f"evaluate_first[{i}] must be a non-empty mapping of searched params to values, "
                                   f"like {example}; got {format_value(point)}")
        for key, value in point.items():
            if key not in params:
                raise SearchSpaceError(f"evaluate_first[{i}] sets {format_value(key)}, which this space does not "
                                       f"search; use one of {', '.join(params)} (fixed values belong in base)")
            if not params[key].contains(value):
                raise SearchSpaceError(f"evaluate_first[{i}]: {key}={format_value(value)} is outside its "
                                       f"distribution {params[key].describe()}; pick a value it can give")
        missing = [key for key in params if key not in point]
        if missing:
            raise SearchSpaceError(f"evaluate_first[{i}] leaves out {', '.join(missing)}; each configuration sets "
                                   "every searched param")
        points.append(dict(point))
    return tuple(points)
