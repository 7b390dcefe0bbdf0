"""The in-memory search space: what to search, how to score it, and how much to spend."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search_spaces.distributions import Distribution
# Objective names and directions are ssl_core's: the trainer's best checkpoint follows them too.
from ssl_core.objective import BETTER, METRICS, MODES  # noqa: F401  (re-exported)

SCHEDULERS = ("asha", "none")


@dataclass(frozen=True)
class Confirm:
    """The confirmation stage after a search: the ``top`` best distinct configurations, the
    space's base configuration and the supervised reference, each retrained with ``seeds``
    training seeds for ``epochs`` epochs; only the winner goes to test and export.
    ``labelled_eligible``: label-using methods (supcon, supervised) may be the winner."""

    top: int = 3
    seeds: int = 3
    epochs: int = 0  # 0: the budget's epochs
    labelled_eligible: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"top": self.top, "seeds": self.seeds, "epochs": self.epochs,
                "labelled_eligible": self.labelled_eligible}


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space, as read from ``search_spaces/<name>.yaml`` or a user's file.

    ``base`` is the nested config mapping (only what differs from ssl_core defaults);
    ``params`` maps dotted config keys to distributions, in file order. ``epochs`` is every
    trial's length (it becomes ``train.epochs``) and ASHA's ``max_t``. ``scheduler`` is
    ``{"name": "asha", "grace_period": int, "reduction_factor": int}`` or ``{"name": "none"}``.
    """

    name: str
    description: str
    base: dict[str, Any]
    params: dict[str, Distribution]
    metric: str
    mode: str
    trials: int
    epochs: int
    max_concurrent: int
    scheduler: dict[str, Any]
    path: Path
    notes: str = field(default="", compare=False)
    confirm: Confirm | None = Confirm()  # None: `confirm: none`, the search's best trial is the answer
    evaluate_first: tuple[dict[str, Any], ...] = ()  # configurations run before Optuna proposes any

    @property
    def confirm_epochs(self) -> int:
        return (self.confirm.epochs or self.epochs) if self.confirm else 0

    def confirm_runs(self) -> int:
        """Training runs the confirmation stage costs at most: (top + base + supervised) x seeds.
        A candidate the search already trained to the end (the winner's own trial; the base
        config when ``evaluate_first`` ran it) keeps that run as its first seed, one run less."""
        return (self.confirm.top + 2) * self.confirm.seeds if self.confirm else 0

    @property
    def budget(self) -> dict[str, int]:
        return {"trials": self.trials, "epochs": self.epochs, "max_concurrent": self.max_concurrent}

    def to_dict(self) -> dict[str, Any]:
        """The YAML mapping this space was read from (normalised); ``load_space`` reads it back."""
        out: dict[str, Any] = {
            "description": self.description,
            "base": _copy(self.base),
            "params": {key: dist.to_yaml() for key, dist in self.params.items()},
            "objective": {"metric": self.metric, "mode": self.mode},
            "budget": self.budget,
            "scheduler": dict(self.scheduler),
        }
        out["confirm"] = self.confirm.to_dict() if self.confirm else "none"
        if self.evaluate_first:
            out["evaluate_first"] = [dict(point) for point in self.evaluate_first]
        if self.notes:
            out["notes"] = self.notes
        return out

    def describe(self) -> str:
        """A few lines for ``--dry-run`` and ``--list-spaces -v``: purpose, params, objective, budget."""
        lines = [f"{self.name}: {self.description}", f"  file: {self.path}"]
        width = max((len(k) for k in self.params), default=0)
        lines += [f"  {key:<{width}}  {dist.describe()}" for key, dist in self.params.items()]
        for key, value in _flatten(self.base).items():
            lines.append(f"  {key:<{width}}  = {value!r} (base)")
        lines.append(f"  objective: {self.mode} {self.metric}")
        lines.append(f"  budget: {self.trials} trials x {self.epochs} epochs, {self.max_concurrent} at a time")
        if self.scheduler["name"] == "asha":
            lines.append(f"  scheduler: ASHA, grace {self.scheduler['grace_period']} epochs, "
                         f"reduction factor {self.scheduler['reduction_factor']}")
        else:
            lines.append("  scheduler: none (every trial runs all its epochs)")
        for point in self.evaluate_first:
            lines.append("  evaluate first: " + ", ".join(f"{k}={v!r}" for k, v in point.items()))
        if self.confirm:
            c = self.confirm
            lines.append(f"  confirm: top {c.top} configs + base + supervised, {c.seeds} seeds each, "
                         f"{self.confirm_epochs} epochs: at most {self.confirm_runs()} runs "
                         f"({self.confirm_runs() * self.confirm_epochs} epochs) after the search's "
                         f"{self.trials * self.epochs} at most; a candidate the search trained to the end "
                         "keeps that run as its first seed")
        else:
            lines.append("  confirm: none (the search's best trial is the answer, from one seed)")
        return "\n".join(lines)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _flatten(base: dict[str, Any]) -> dict[str, Any]:
    """``{"method": {"name": "simclr"}}`` -> ``{"method.name": "simclr"}``."""
    return {f"{section}.{key}": value
            for section, values in base.items() if isinstance(values, dict)
            for key, value in values.items()}
