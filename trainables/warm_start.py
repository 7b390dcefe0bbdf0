"""``--warm-start runs/<earlier>``: a new search begins with what an earlier search already measured.

The earlier experiment's finished trials (its ``optuna.journal``; an experiment from before
the study was kept on disk: its ``trials.csv``) whose configuration lies in the new space are
added to the new search's study as they were (COMPLETE with their score, PRUNED with their
intermediate values and the last of them as their value, as Optuna records a pruned trial,
FAIL), each marked ``warm_start_from``. TPE then models them as its own, and the searcher
does not run any of them again (``trainables/optuna_search.py``).

Optuna's ``study.add_trials`` is used rather than Ray's ``points_to_evaluate`` +
``evaluated_rewards``: Ray turns every such point into a COMPLETE trial with its reward, so a
pruned trial's partial score would be told as final and a failed one would need a made-up score.

A trial fits when every parameter the new space searches had a value in it inside the new
range (a parameter the earlier search did not vary counts with the value its base config
gave it), and every parameter the earlier search varied that the new one fixes had the new
fixed value. The rest are listed with the reason and skipped. Refused, before Ray starts,
when the objectives differ (metric or mode) or the spaces share no parameter. No Ray here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from search_spaces import Distribution, SearchSpace, resolve_config
from trainables import optuna_store as store
from trainables.study_report import study_from_trials, to_optuna


class WarmStartError(ValueError):
    """A warm start that cannot work; the message names the problem and the fix."""


@dataclass
class WarmStart:
    source: Path
    trials: list[FrozenTrial] = field(default_factory=list)  # ready for the new study's add_trials
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (earlier trial number, why)

    def lines(self) -> list[str]:
        """What the console says about it: how many were imported, each skipped trial and why."""
        out = [f"warm start: {len(self.trials)} trial(s) of {self.source} imported into this search's study "
               f"({', '.join(f'{n} {s}' for s, n in _states(self.trials).items()) or 'none'}); "
               f"{len(self.skipped)} skipped"]
        out += [f"  skipped trial {number}: {why}" for number, why in self.skipped]
        return out


def _states(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def earlier_study(experiment: Path, space: SearchSpace) -> optuna.Study:
    """The earlier experiment's study: its journal, else rebuilt in memory from its trials.csv."""
    if store.study_path(experiment).is_file():
        return store.load_search_study(experiment)
    if (experiment / "trials.csv").is_file():
        return study_from_trials(experiment / "trials.csv", space)
    raise WarmStartError(f"--warm-start {experiment}: it holds neither {store.STUDY_FILE} nor trials.csv, so there "
                         f"are no finished trials to start from; pass a finished or interrupted search's folder "
                         f"(run `python launch.py --summarise {experiment}` first if its trials ran)")


def fits(dist: Distribution, value: Any) -> bool:
    """Whether ``value`` is one the distribution can propose (a choice, or in range and on its grid)."""
    if dist.kind == "choice":
        return any(value == c and type(value) is type(c) or (_number(value) and _number(c) and value == c)
                   for c in dist.choices)
    if not _number(value) or not math.isfinite(float(value)):
        return False
    low, high = float(dist.low), float(dist.high)  # type: ignore[arg-type]
    if not low <= float(value) <= high:
        return False
    if dist.samples_ints and float(value) != int(value):
        return False
    if dist.kind == "quniform":
        steps = (float(value) - low) / float(dist.q)  # type: ignore[arg-type]
        return abs(steps - round(steps)) < 1e-6
    return True


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _config_value(space: SearchSpace, params: dict[str, Any], overrides: Sequence[str], key: str) -> Any:
    cfg = resolve_config(space, params, overrides)
    section, name = key.split(".", 1)
    return getattr(getattr(cfg, section), name)


def plan_warm_start(experiment: Path, earlier: SearchSpace, earlier_overrides: Sequence[str], new: SearchSpace,
                    new_overrides: Sequence[str]) -> WarmStart:
    """The earlier trials that fit ``new``, converted to its distributions; raises WarmStartError."""
    if (earlier.metric, earlier.mode) != (new.metric, new.mode):
        raise WarmStartError(f"--warm-start {experiment}: its objective is {earlier.metric} ({earlier.mode}) and this "
                             f"search's is {new.metric} ({new.mode}); scores of another objective cannot seed this "
                             f"one. Warm-start from a search with the same objective, or drop --warm-start")
    shared = [key for key in new.params if key in earlier.params]
    if not shared:
        raise WarmStartError(f"--warm-start {experiment}: the spaces share no parameter (it searched "
                             f"{', '.join(earlier.params) or 'nothing'}; this search searches "
                             f"{', '.join(new.params)}), so none of its trials says anything about this space; "
                             f"drop --warm-start")
    study = earlier_study(experiment, earlier)
    plan = WarmStart(source=experiment)
    fixed_new = {key: _config_value(new, {k: d.probe_values()[0] for k, d in new.params.items()}, new_overrides, key)
                 for key in earlier.params if key not in new.params}
    distributions = {key: to_optuna(dist) for key, dist in new.params.items()}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        if store.ATTR_DUPLICATE in trial.user_attrs or store.ATTR_ABANDONED in trial.user_attrs:
            continue  # never ran
        why = _misfit(trial, earlier, earlier_overrides, new, fixed_new)
        if why:
            plan.skipped.append((trial.number, why))
            continue
        params = {key: trial.params[key] if key in trial.params
                  else _config_value(earlier, trial.params, earlier_overrides, key) for key in new.params}
        attrs = {**trial.user_attrs, store.ATTR_IMPORTED: str(experiment), store.ATTR_IMPORTED_NUMBER: trial.number}
        plan.trials.append(optuna.trial.create_trial(
            params=params, distributions=distributions, state=trial.state, user_attrs=attrs,
            value=trial.value,  # as the earlier study holds it: Optuna gives a pruned trial its last intermediate value
            intermediate_values=dict(trial.intermediate_values) if trial.state != TrialState.FAIL else {}))
    return plan


def _misfit(trial: FrozenTrial, earlier: SearchSpace, earlier_overrides: Sequence[str], new: SearchSpace,
            fixed_new: dict[str, Any]) -> str | None:
    """Why an earlier trial lies outside the new space (None: it fits)."""
    if any(key not in trial.params for key in earlier.params):
        return "its parameters were not recorded (it failed before starting)"
    for key, dist in new.params.items():
        if key in trial.params:
            value, where = trial.params[key], ""
        else:
            value, where = _config_value(earlier, trial.params, earlier_overrides, key), " (the earlier search's base)"
        if not fits(dist, value):
            return f"{key}={value!r}{where} is outside this space ({dist.describe()})"
    for key, value in fixed_new.items():
        if trial.params[key] != value:
            return f"{key}={trial.params[key]!r}, but this search fixes {key}={value!r}"
    return None


def import_trials(experiment_dir: Path, new: SearchSpace, plan: WarmStart) -> optuna.Study:
    """Create the new search's study (``<experiment>/optuna.journal``) holding the imported trials."""
    study = optuna.create_study(study_name=experiment_dir.name, load_if_exists=True,
                                storage=store.journal_storage(store.study_path(experiment_dir)),
                                direction="maximize" if new.mode == "max" else "minimize")
    store.name_objective(study, new.metric)
    if not any(store.ATTR_IMPORTED in t.user_attrs for t in study.get_trials(deepcopy=False)):
        study.add_trials(plan.trials)  # once: a resumed search's study has them already
    return study
