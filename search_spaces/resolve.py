"""From a search space and one trial's params to a validated ssl_core Config.

``resolve_config`` is what every trial runs; ``validate_space`` runs it at the extreme
values of every param, and at a few seeded random draws, before anything starts, so that
a range reaching an invalid value (a temperature of 0, a mask wider than the spectrogram)
is refused at load time, naming the param and the bound, instead of failing in trial 17
after an hour.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import yaml

from search_spaces.distributions import format_value
from search_spaces.errors import SearchSpaceError
from search_spaces.space import SearchSpace
from ssl_core.config import Config, ConfigError, config_from_dict, parse_override, set_value

# What ssl_core's config code raises on bad values: ConfigError (a ValueError), YAML errors
# when set_value parses a text value, OverflowError from arithmetic on absurdly large numbers.
CONFIG_ERRORS = (ValueError, OverflowError, yaml.YAMLError)
# Every combination of extremes is checked when there are at most this many (a fraction of
# a second); larger spaces get each param's extremes one at a time plus this many random
# combinations of extremes, drawn with a fixed seed so the check is repeatable.
MAX_PROBES = 256
RANDOM_PROBES = 32
# ConfigError messages start with the field: "method.temperature=-0.1 is invalid: ..." or
# "data.batch_size: expected an integer ...".
OBJECTIVE_KEYS = ("eval.objective", "eval.objective_mode")  # set from the space's objective, nowhere else
_FIELD = re.compile(r"^([A-Za-z_]\w*\.[A-Za-z_]\w*)(?:=|:|\[)")


def sample_params(space: SearchSpace, rng: np.random.Generator) -> dict[str, Any]:
    """One value per param of ``space``, in file order, drawn with ``rng`` (Python scalars)."""
    return {key: dist.sample(rng) for key, dist in space.params.items()}


def resolve_config(space: SearchSpace, params: Mapping[str, Any], overrides: Sequence[str] = (),
                   seed_offset: int = 0) -> Config:
    """``space.base`` + ``params`` + ``train.epochs = space.epochs`` + ``key=value`` overrides, validated.

    ``params`` must give exactly the space's params (as Tune/Optuna do); an override may
    not set a searched param (the search would silently search nothing) nor train.epochs
    (a trial's length is the budget's epochs, which ASHA also reads). ``seed_offset`` is added
    to ``train.seed``: a search gives each trial its own training seed, so a configuration
    proposed twice is trained twice, not replicated.
    Raises SearchSpaceError naming the param, base key or override at fault.
    """
    if not isinstance(params, Mapping):
        raise SearchSpaceError(f"search space {space.name}: params must be a mapping of dotted keys, got {params!r}")
    unknown = [k for k in params if k not in space.params]
    missing = [k for k in space.params if k not in params]
    if unknown or missing:
        raise SearchSpaceError(
            f"search space {space.name}: params must give exactly {', '.join(space.params)}"
            + (f"; not in this space: {', '.join(map(str, unknown))}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else ""))
    parsed = parse_overrides(space, overrides)
    # Searchers may hand numpy scalars (np.int64 is not an int); the config wants Python ones.
    values = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    try:
        return _build(space, values, parsed, seed_offset)
    except CONFIG_ERRORS as err:
        raise SearchSpaceError(f"search space {space.name}: {_blame(space, values, parsed, err, probing=False)}") from err


def validate_space(space: SearchSpace, overrides: Sequence[str] = ()) -> None:
    """Check that every extreme value of every param (with ``overrides``) gives a valid config.

    Config checks are ranges and one-sided limits, so valid extremes make a valid range;
    RANDOM_PROBES seeded draws then cover the rare check that is not (a multiple of).

    ``load_space`` calls it without overrides; a launcher calls it again with the user's
    overrides before starting anything. Raises SearchSpaceError naming the param and bound.
    """
    parsed = parse_overrides(space, overrides)
    for point in probe_points(space):
        try:
            _build(space, point, parsed)
        except CONFIG_ERRORS as err:
            raise SearchSpaceError(_blame(space, point, parsed, err, probing=True)) from err
    # A few seeded draws from inside the ranges catch the rare check that is not an interval
    # (MoCo's queue_size must be a multiple of the batch size: 4096 and 4160 are, 4100 is not).
    rng = np.random.default_rng(0)
    for _ in range(RANDOM_PROBES):
        point = sample_params(space, rng)
        try:
            _build(space, point, parsed)
        except CONFIG_ERRORS as err:
            raise SearchSpaceError(_blame(space, point, parsed, err, probing=False)
                                   + "; change the range so that every value in it is valid") from err


def parse_overrides(space: SearchSpace, overrides: Sequence[str]) -> list[tuple[str, str]]:
    """``["data.dataset=/data/x"]`` -> ``[("data.dataset", "/data/x")]``, each key and value checked."""
    if isinstance(overrides, str):
        raise SearchSpaceError(f"overrides must be a list of key=value strings, got the single string {overrides!r}")
    parsed = []
    for text in overrides:
        try:
            key, value = parse_override(text)
            set_value(Config(), key, value)  # unknown key or wrong type, in ssl_core's words
        except CONFIG_ERRORS as err:
            raise SearchSpaceError(f"override {text!r}: {err}") from err
        except TypeError as err:  # a non-string override (parse_override expects text)
            raise SearchSpaceError(f"override {text!r}: overrides are key=value strings") from err
        if key in space.params:
            raise SearchSpaceError(
                f"override {text!r} sets {key}, which search space {space.name} searches "
                f"({space.params[key].describe()}); drop the override, or copy the space and move {key} to base")
        if key in OBJECTIVE_KEYS:
            raise SearchSpaceError(
                f"override {text!r}: a search's objective is its space's objective.metric and mode "
                f"({space.metric}, {space.mode}), which every trial's best checkpoint follows; change the space's "
                "objective instead")
        if key == "train.epochs":
            raise SearchSpaceError(
                f"override {text!r}: a trial's length is the space's budget.epochs ({space.epochs}), which "
                "ASHA also uses; change the budget (launch.py --epochs, search_spaces.with_budget) instead")
        parsed.append((key, value))
    return parsed


def probe_points(space: SearchSpace) -> Iterator[dict[str, Any]]:
    """Param assignments at the extremes (``Distribution.probe_values``) that validation tries.

    All combinations when there are at most MAX_PROBES; otherwise each param's extremes
    with the other params at their first extreme, then MAX_PROBES seeded random combinations.
    Every point is a value a trial can get, so a failing point is a real problem.
    """
    keys = list(space.params)
    values = [space.params[key].probe_values() for key in keys]
    if math.prod(len(v) for v in values) <= MAX_PROBES:
        for combo in itertools.product(*values):
            yield dict(zip(keys, combo))
        return
    first = {key: v[0] for key, v in zip(keys, values)}
    for key, options in zip(keys, values):
        for value in options:
            yield {**first, key: value}
    rng = np.random.default_rng(0)
    for _ in range(MAX_PROBES):
        yield {key: v[int(rng.integers(len(v)))] for key, v in zip(keys, values)}


def resolve_base_config(space: SearchSpace, overrides: Sequence[str] = (), epochs: int | None = None) -> Config:
    """The space's base configuration: ``base`` + the user's overrides, the searched params left at
    their config defaults ("what the user had without the search"), ``epochs`` long (default: the budget's)."""
    parsed = [parse_override(o) for o in overrides]
    cfg = _build(space, {}, parsed)
    if epochs is not None:
        set_value(cfg, "train.epochs", epochs)
    return cfg.validate()


def _build(space: SearchSpace, params: dict[str, Any], overrides: list[tuple[str, str]],
           seed_offset: int = 0) -> Config:
    base_eval = space.base.get("eval") if isinstance(space.base.get("eval"), dict) else {}
    for key in OBJECTIVE_KEYS:
        field = key.split(".")[1]
        if field in base_eval:
            raise ConfigError(f"{key}={base_eval[field]!r} is invalid: a search space sets it from objective "
                              f"({space.metric}, {space.mode}); remove it from base")
    cfg = config_from_dict(space.base)
    set_value(cfg, "train.epochs", space.epochs)
    for key, value in params.items():
        set_value(cfg, key, value)
    for key, value in overrides:
        set_value(cfg, key, value)
    # The trainer keeps its best checkpoint by the space's objective: the one meaning of "best".
    set_value(cfg, "eval.objective", space.metric)
    set_value(cfg, "eval.objective_mode", space.mode)
    if seed_offset:
        set_value(cfg, "train.seed", cfg.train.seed + seed_offset)
    return cfg.validate()


def _blame(space: SearchSpace, point: dict[str, Any], overrides: list[tuple[str, str]], err: BaseException,
           probing: bool) -> str:
    """Turn a config error into a message naming what to change: a param's bound, a base key, an override."""
    text = str(err)
    match = _FIELD.match(text)
    field = match.group(1) if match else None
    others = ", ".join(f"{k}={format_value(v)}" for k, v in point.items() if k != field)
    context = f" (with {others})" if others else ""
    if field is not None and field in point:
        dist = space.params[field]
        value = point[field]
        if not probing:
            return f"params.{field}={format_value(value)} gives an invalid config{context}: {text}"
        if dist.kind == "choice":
            role = f"choice {format_value(value)}"
        else:
            role = f"{'low' if value == dist.probe_values()[0] else 'high'} bound {format_value(value)}"
        fix = "remove that choice" if dist.kind == "choice" else "narrow the range"
        return (f"params.{field}: {dist.describe()}: its {role} gives an invalid config{context}: {text}; "
                f"{fix} so that every value is valid")
    override_keys = dict(overrides)
    if field is not None and field in override_keys:
        return f"override {field}={override_keys[field]}: {text}{context}"
    section, _, key = (field or "").partition(".")
    in_base = isinstance(space.base.get(section), dict) and key in space.base[section]
    if field is not None and in_base:
        return f"base.{field}: {text}{context}"
    return f"the config is invalid{context}: {text}"
