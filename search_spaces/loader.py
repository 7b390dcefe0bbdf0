"""Read a search-space YAML file into a validated SearchSpace.

A space file (PyYAML's safe loader only, reading ``1e-4`` as a number) holds::

    description: one line, the purpose
    base: {method: {name: simclr}}                   # nested config, only what differs from defaults
    params: {method.temperature: {loguniform: [0.03, 1.0]}}   # dotted config key -> distribution
    objective: {metric: knn_top1, mode: max}
    budget: {trials: 8, epochs: 6, max_concurrent: 2}         # epochs per trial = train.epochs
    scheduler: {name: asha, grace_period: 2, reduction_factor: 2}   # or: none
    notes: optional free text

Everything is checked here, before Ray starts; each error names the file, the key and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import typing
from pathlib import Path
from typing import Any

from search_spaces.distributions import QUANTISED, Distribution, format_value, parse_distribution
from search_spaces.errors import SearchSpaceError
from search_spaces.evaluate_first import parse_evaluate_first
from search_spaces.resolve import CONFIG_ERRORS, validate_space
from search_spaces.space import BETTER, METRICS, MODES, SCHEDULERS, Confirm, SearchSpace
from ssl_core.config import Config, config_from_dict, set_value
from ssl_core.safe_yaml import BoundedLoader, YamlError, load_yaml

SHIPPED_DIR = Path(__file__).resolve().parent
TOP_LEVEL = ("description", "base", "params", "objective", "budget", "scheduler", "confirm", "evaluate_first",
             "notes")
REQUIRED = ("description", "params", "objective", "budget", "scheduler")
BUDGET_KEYS = ("trials", "epochs", "max_concurrent")
ASHA_KEYS = ("grace_period", "reduction_factor")
SUFFIXES = (".yaml", ".yml")


def shipped_names() -> list[str]:
    """Names of the spaces shipped in this package (file stems), sorted."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def list_spaces() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped space, sorted by name; reads only the descriptions."""
    out = []
    for name in shipped_names():
        path = SHIPPED_DIR / f"{name}.yaml"
        raw = _read_yaml(path)
        try:
            if not isinstance(raw, dict):
                raise SearchSpaceError("a search space file is a mapping")
            out.append((name, _description(raw.get("description"))))
        except SearchSpaceError as err:
            raise SearchSpaceError(_bounded(f"search space {path}: {err}")) from err
    return out


def load_space(name_or_path: str | os.PathLike[str], validate: bool = True) -> SearchSpace:
    """A shipped space by name (``"simclr_temp"``) or a user's YAML file by path, validated.

    Raises SearchSpaceError (a ValueError) for an unknown name (listing the shipped ones)
    or a malformed file, FileNotFoundError for a path that does not exist. ``validate=False``
    only parses (the file's structure is still checked): a launcher that applies budget flags
    and overrides first then runs ``validate_space`` once on what it will search.
    """
    path = _locate(name_or_path)
    raw = _read_yaml(path)
    try:
        space = _parse(raw, path)
        if validate:
            validate_space(space)
    except SearchSpaceError as err:
        raise SearchSpaceError(_bounded(f"search space {path}: {err}")) from err
    return space


def grace_for_epochs(space: SearchSpace, epochs: int | None) -> int | None:
    """The ASHA grace period for ``epochs`` per trial when the space's own would not fit.

    ``None`` when the space's grace period stays (no ASHA, no new epochs, or it fits below
    them). Otherwise the rung keeps its share of the run (grace 5 of 6 epochs becomes 2 of 3;
    ``launch.py --space simclr --epochs 2``: 2 of 10 becomes 1 of 2), below the last epoch so
    trials can be compared.
    """
    if epochs is None or space.scheduler.get("name") != "asha" or space.scheduler["grace_period"] < epochs:
        return None
    share = space.scheduler["grace_period"] / space.epochs
    return max(1, min(epochs - 1, round(share * epochs)))


def with_budget(space: SearchSpace, *, trials: int | None = None, epochs: int | None = None,
                max_concurrent: int | None = None, grace_period: int | None = None,
                scheduler: dict[str, Any] | None = None, validate: bool = True) -> SearchSpace:
    """A copy of ``space`` with launcher flags applied to its budget, checked like the file's own
    (``validate=False``: the budget alone; the caller validates the space once itself).
    ``scheduler``: a whole ``scheduler:`` mapping in place of the space's (benches that replay
    ASHA on a space without one)."""
    budget = {"trials": space.trials if trials is None else trials,
              "epochs": space.epochs if epochs is None else epochs,
              "max_concurrent": space.max_concurrent if max_concurrent is None else max_concurrent}
    scheduler = dict(space.scheduler if scheduler is None else scheduler)
    if grace_period is not None:
        if scheduler["name"] != "asha":
            raise SearchSpaceError(f"search space {space.name} has no ASHA scheduler, so no grace period to set")
        scheduler["grace_period"] = grace_period
    try:
        checked = _budget(budget)
        new = dataclasses.replace(space, **checked, scheduler=_scheduler(scheduler, checked["epochs"]))
        if validate:
            validate_space(new)  # epochs bound other fields (optim.warmup_epochs <= train.epochs)
    except SearchSpaceError as err:
        raise SearchSpaceError(f"search space {space.name}: {err}") from err
    return new


# ---------------------------------------------------------------------- files


def _locate(name_or_path: str | os.PathLike[str]) -> Path:
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise SearchSpaceError(f"a search space is a shipped name or a YAML path, got {name_or_path!r}")
    text = os.fspath(name_or_path)
    path = Path(text)
    # A bare word names a shipped space; anything with a separator or a YAML suffix is a path.
    looks_like_path = isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text \
        or path.suffix in SUFFIXES
    if not looks_like_path:
        if text in shipped_names():
            return SHIPPED_DIR / f"{text}.yaml"
        if not path.is_file():
            raise SearchSpaceError(f"unknown search space {text!r}; shipped spaces: {', '.join(shipped_names())} "
                                   "(or give a path to your own YAML file)")
    if not path.exists():
        raise FileNotFoundError(f"search space file {path} does not exist")
    if not path.is_file():
        raise SearchSpaceError(f"search space {path} is not a file; give a YAML file")
    return path


class _SpaceYamlLoader(BoundedLoader):
    """PyYAML's safe loader, bounded (ssl_core.safe_yaml: no alias bomb, no duplicate key),
    reading ``1e-4`` as the number YAML 1.2 says it is.

    PyYAML follows YAML 1.1, where a float's exponent needs a dot (``1.0e-4``): ``1e-4`` is
    the string "1e-4", and ``{choice: [1e-5, 1e-4]}`` would be a choice between two strings
    (shown and compared as text, and let through the finite-number checks). The documented
    remedy is one more implicit resolver; quoted values stay strings.
    """


_SpaceYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


MESSAGE_HEAD, MESSAGE_TAIL = 400, 240  # characters kept of a message that formats a long value


def _bounded(message: str) -> str:
    """``message`` with its middle left out when a value formatted into it is long (an alias
    expanding to thousands of values, within safe_yaml's bound, in a choice or base field):
    the head names the file, field and problem, the tail the fix; never a whole value."""
    if len(message) <= MESSAGE_HEAD + MESSAGE_TAIL + 40:
        return message
    left_out = len(message) - MESSAGE_HEAD - MESSAGE_TAIL
    return f"{message[:MESSAGE_HEAD]} ... ({left_out:,} characters left out) ... {message[-MESSAGE_TAIL:]}"


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SearchSpaceError(f"search space {path} is not UTF-8 text: {err}; save it as UTF-8") from err
    try:
        # Bounded (issue 18): alias bombs, duplicate keys (both lines named), deep nesting, and
        # the ValueError / KeyError / RecursionError PyYAML leaks for 2020-13-45, !!bool maybe,
        # 5,000-digit integers or 5,000 nested '[' all become YamlError, never a whole value.
        return load_yaml(text, where=f"search space {path}", loader=_SpaceYamlLoader)
    except YamlError as err:
        raise SearchSpaceError(f"search space {path} is not valid YAML ({err.kind}: {err.detail})") from None


# ---------------------------------------------------------------------- sections


def _parse(raw: Any, path: Path) -> SearchSpace:
    if not isinstance(raw, dict):
        raise SearchSpaceError(f"a search space file is a mapping with keys {', '.join(TOP_LEVEL)}; "
                               f"got {type(raw).__name__}")
    unknown = [k for k in raw if k not in TOP_LEVEL]
    if unknown:
        raise SearchSpaceError(f"unknown top-level key {format_value(unknown[0])}; allowed keys: {', '.join(TOP_LEVEL)}")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise SearchSpaceError(f"missing top-level key {missing[0]!r}; a space needs {', '.join(REQUIRED)} "
                               "(and optionally base, notes)")
    base = _base(raw.get("base"))
    budget = _budget(raw["budget"])
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise SearchSpaceError(f"notes must be text, got a {type(notes).__name__}; quote it or write it as one string")
    metric, mode = _objective(raw["objective"])
    params = _params(raw["params"], base)
    return SearchSpace(name=path.stem, description=_description(raw["description"]), base=base,
                       params=params, metric=metric, mode=mode, **budget,
                       scheduler=_scheduler(raw["scheduler"], budget["epochs"]), path=path, notes=notes,
                       confirm=_confirm(raw.get("confirm", {})),
                       evaluate_first=parse_evaluate_first(raw.get("evaluate_first", []), params, budget["trials"]))



CONFIRM_KEYS = ("top", "seeds", "epochs", "labelled_eligible")


def _confirm(raw: Any) -> Confirm | None:
    """``confirm: none``, or a mapping of CONFIRM_KEYS (omitted keys: the defaults)."""
    if raw in ("none", None, False):
        return None
    if not isinstance(raw, dict):
        raise SearchSpaceError(f"confirm must be none or a mapping like {{top: 3, seeds: 3, epochs: 6}}, got "
                               f"{format_value(raw)}")
    unknown = [k for k in raw if k not in CONFIRM_KEYS]
    if unknown:
        raise SearchSpaceError(f"confirm: unknown key {format_value(unknown[0])}; allowed keys: "
                               f"{', '.join(CONFIRM_KEYS)}")
    default = Confirm()
    eligible = raw.get("labelled_eligible", default.labelled_eligible)
    if not isinstance(eligible, bool):
        raise SearchSpaceError(f"confirm.labelled_eligible must be true or false, got {format_value(eligible)}")
    epochs = raw.get("epochs", default.epochs)
    return Confirm(top=_positive_int("confirm.top", raw.get("top", default.top)),
                   seeds=_positive_int("confirm.seeds", raw.get("seeds", default.seeds)),
                   epochs=0 if epochs == 0 else _positive_int("confirm.epochs", epochs),
                   labelled_eligible=eligible)


def _description(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
        raise SearchSpaceError(f"description must be one non-empty line saying what the space is for, got {value!r}")
    return value.strip()


def _base(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SearchSpaceError(f"base must be a nested config mapping like {{method: {{name: simclr}}}}, got {raw!r}")
    try:
        config_from_dict(raw)  # unknown sections/keys and wrong types, in ssl_core's words
    except CONFIG_ERRORS as err:
        typos = [f"{s}.{k}" for s, values in raw.items() if isinstance(values, dict) for k in values]
        raise SearchSpaceError(f"base: {err}{_did_you_mean(typos)}") from err
    if isinstance(raw.get("train"), dict) and "epochs" in raw["train"]:
        raise SearchSpaceError("base.train.epochs: a trial's length is budget.epochs (ASHA reads it too); "
                               "remove train.epochs from base and set budget.epochs")
    return {section: dict(values) for section, values in raw.items() if values is not None}


def _params(raw: Any, base: dict[str, Any]) -> dict[str, Distribution]:
    if not isinstance(raw, dict) or not raw:
        raise SearchSpaceError("params must be a non-empty mapping of dotted config keys to distributions, "
                               f"e.g. {{method.temperature: {{loguniform: [0.03, 1.0]}}}}; got {raw!r}")
    params = {}
    for key, spec in raw.items():
        if not isinstance(key, str):
            raise SearchSpaceError(f"params: keys are dotted config keys like method.temperature, got {key!r}")
        try:
            dist = parse_distribution(spec)
        except SearchSpaceError as err:
            raise SearchSpaceError(f"params.{key}: {err}") from None
        try:
            set_value(Config(), key, dist.probe_values()[0])  # unknown key or a value of the wrong type
        except CONFIG_ERRORS as err:
            raise SearchSpaceError(f"params.{key}: {err}{_did_you_mean([key])}") from err
        if key == "train.epochs":
            raise SearchSpaceError("params.train.epochs: a trial's length is budget.epochs, which ASHA "
                                   "schedules on; search other params")
        _check_kind_fits_field(key, dist)
        section, field = key.split(".")
        if isinstance(base.get(section), dict) and field in base[section]:
            raise SearchSpaceError(
                f"params.{key} is also set in base ({key}={format_value(base[section][field])}), which is "
                f"ambiguous; remove it from base to search it, or from params to fix it")
        params[key] = dist
    return params


def _did_you_mean(keys: list[str]) -> str:
    """``"; did you mean method.temperature?"`` for the first unknown key with a close valid one."""
    cfg = Config()
    valid = [f"{section.name}.{f.name}" for section in dataclasses.fields(cfg)
             for f in dataclasses.fields(getattr(cfg, section.name))]
    for key in keys:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.75)
            if close:
                return f"; did you mean {close[0]}?"
    return ""


def _check_kind_fits_field(key: str, dist: Distribution) -> None:
    """An integer field needs integer draws; text and flag fields only a choice."""
    section, field = key.split(".")
    annotation = typing.get_type_hints(type(getattr(Config(), section)))[field]
    if annotation is int and not dist.samples_ints and dist.kind != "choice":
        hint = " with integer low, high and q" if dist.kind in QUANTISED else ""
        raise SearchSpaceError(f"params.{key}: {key} is an integer field but {dist.describe()}{hint} draws "
                               "fractions; use int, log_int, choice, or quniform with integer low/high/q")
    if annotation not in (int, float) and dist.kind != "choice":
        raise SearchSpaceError(f"params.{key}: {key} is not a number field ({annotation}); "
                               f"only a choice fits, e.g. {{choice: [...]}}")


def _objective(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, dict):
        raise SearchSpaceError(f"objective must be a mapping like {{metric: knn_top1, mode: max}}, got {raw!r}")
    unknown = [k for k in raw if k not in ("metric", "mode")]
    if unknown:
        raise SearchSpaceError(f"objective: unknown key {format_value(unknown[0])}; allowed keys: metric, mode")
    metric, mode = raw.get("metric"), raw.get("mode")
    if metric not in METRICS:
        raise SearchSpaceError(f"objective.metric={metric!r} is not a metric; use one of {', '.join(METRICS)}")
    if mode not in MODES:
        raise SearchSpaceError(f"objective.mode={mode!r} is invalid; use max or min")
    if metric in BETTER and BETTER[metric] != mode:
        better = "higher" if BETTER[metric] == "max" else "lower"
        raise SearchSpaceError(f"objective.mode={mode} would search for the worst {metric}; {metric} is better "
                               f"when {better}, so use mode: {BETTER[metric]}")
    return metric, mode


def _positive_int(where: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SearchSpaceError(f"{where}={value!r} is invalid: must be an integer >= {low}")
    return value


def _budget(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise SearchSpaceError(f"budget must be a mapping like {{trials: 8, epochs: 6, max_concurrent: 2}}, got {raw!r}")
    unknown = [k for k in raw if k not in BUDGET_KEYS]
    if unknown:
        raise SearchSpaceError(f"budget: unknown key {format_value(unknown[0])}; allowed keys: {', '.join(BUDGET_KEYS)}")
    for key in BUDGET_KEYS:
        if key not in raw:
            raise SearchSpaceError(f"budget.{key} is missing; a budget gives {', '.join(BUDGET_KEYS)}")
    return {key: _positive_int(f"budget.{key}", raw[key]) for key in BUDGET_KEYS}


def _scheduler(raw: Any, epochs: int) -> dict[str, Any]:
    if raw == "none" or raw is None:
        return {"name": "none"}
    example = "{name: asha, grace_period: 2, reduction_factor: 2} or none"
    if not isinstance(raw, dict):
        raise SearchSpaceError(f"scheduler must be {example}, got {raw!r}")
    name = raw.get("name")
    if name not in SCHEDULERS:
        raise SearchSpaceError(f"scheduler.name={name!r} is invalid; use one of {', '.join(SCHEDULERS)} ({example})")
    allowed = ("name",) + (ASHA_KEYS if name == "asha" else ())
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise SearchSpaceError(f"scheduler: unknown key {format_value(unknown[0])} for {name}; "
                               f"allowed keys: {', '.join(allowed)}")
    if name == "none":
        return {"name": "none"}
    for key in ASHA_KEYS:
        if key not in raw:
            raise SearchSpaceError(f"scheduler.{key} is missing; ASHA needs {', '.join(ASHA_KEYS)} ({example})")
    grace = _positive_int("scheduler.grace_period", raw["grace_period"])
    # Ray's ASHA needs a factor > 1; integers keep the rung epochs whole.
    factor = _positive_int("scheduler.reduction_factor", raw["reduction_factor"], low=2)
    if grace > epochs:
        raise SearchSpaceError(f"scheduler.grace_period={grace} exceeds budget.epochs={epochs}: no trial would "
                               "ever be compared; lower grace_period or raise epochs")
    return {"name": "asha", "grace_period": grace, "reduction_factor": factor}
