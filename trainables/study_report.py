"""Optuna's view of a finished search, rebuilt from its ``trials.csv``: importances and history.

The search's own Optuna study lives inside Ray's searcher state; the trial table
(``trials.csv``, written by ``trainables/results.py``) holds everything the figures need and
outlives the Ray session, so the study is rebuilt from it in memory:

* completed trials -> COMPLETE with their score (best objective after epoch 0);
* pruned, collapsed and interrupted trials -> PRUNED, their partial score kept as the
  intermediate value at the epoch they reached (as the search told Optuna, see
  ``trainables/optuna_search.py``; an interrupted trial stopped early too, for another reason);
* failed trials (and completed ones without a finite score) -> FAIL.

Each row's outcome is read from its typed columns (``trainables.outcome``).

Figures are drawn with plain matplotlib rather than ``optuna.visualization.matplotlib``:
with Optuna 5.0 those functions emit an ``ExperimentalWarning`` on every call and draw
into pyplot's global figure registry. No Ray here.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib.figure import Figure
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from search_spaces.distributions import Distribution
from search_spaces.space import SearchSpace
from ssl_core.eval.figures import new_figure
from trainables.outcome import TrialOutcome
from trainables.trial_folder import trial_number

IMPORTANCE_SEED = 0  # fANOVA fits a random forest: a fixed seed gives the same bars for the same table
HISTORY_INCHES = (8.0, 4.5)
IMPORTANCE_INCHES = (7.0, 0.6)  # width, height per parameter (plus HEADER_INCHES)
HEADER_INCHES = 1.2


def to_optuna(dist: Distribution) -> BaseDistribution:
    """A search-space distribution as the Optuna distribution the search sampled it from.

    Optuna refuses a step on a log scale, so ``qloguniform`` becomes a plain log-scale range
    (as Ray's OptunaSearch converts ``tune.qloguniform``); its values still lie in it.
    """
    low, high = dist.low, dist.high
    if dist.kind == "choice":
        return CategoricalDistribution(dist.choices)
    if dist.kind in ("int", "log_int"):
        return IntDistribution(int(low), int(high), log=dist.kind == "log_int")  # type: ignore[arg-type]
    if dist.kind == "quniform":
        if dist.samples_ints:
            return IntDistribution(int(low), int(high), step=int(dist.q))  # type: ignore[arg-type]
        return FloatDistribution(float(low), float(high), step=float(dist.q))  # type: ignore[arg-type]
    if dist.kind == "qloguniform" and dist.samples_ints:
        return IntDistribution(int(low), int(high), log=True)  # type: ignore[arg-type]
    return FloatDistribution(float(low), float(high), log=dist.kind in ("loguniform", "qloguniform"))  # type: ignore[arg-type]


def parse_param(cell: str, dist: Distribution, key: str) -> Any:
    """A ``trials.csv`` cell (Python's ``str`` of the value; ``""`` for None) -> the typed value.

    Numbers are snapped onto the distribution's grid and into its range: Ray rounds
    quantised draws as ``round(x / q) * q``, which can land a float ulp off the grid.
    """
    if dist.kind == "choice":
        for choice in dist.choices:
            if (choice is None and cell == "") or str(choice) == cell:
                return choice
        for choice in dist.choices:  # "64.0" written for the choice 64
            if isinstance(choice, (int, float)) and not isinstance(choice, bool):
                try:
                    if float(cell) == choice:
                        return choice
                except ValueError:
                    pass
        raise ValueError(f"trials.csv: {key}={cell!r} is not one of the choices {list(dist.choices)}")
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(f"trials.csv: {key}={cell!r} is not a number ({dist.describe()})") from None
    low, high = float(dist.low), float(dist.high)  # type: ignore[arg-type]
    if dist.kind == "quniform":
        q = float(dist.q)  # type: ignore[arg-type]
        value = low + round((value - low) / q) * q
    value = min(max(value, low), high)
    if dist.samples_ints:
        return int(round(value))
    return value


def _number(cell: str | None) -> float:
    try:
        return float(cell) if cell not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _sequence(name: str, row_index: int) -> tuple[int, int]:
    """Sort key putting trials in the order the search started them (the CSV is sorted by score)."""
    try:
        return trial_number(name), row_index
    except ValueError:
        return 1 << 30, row_index


def study_from_trials(csv_path: Path, space: SearchSpace) -> optuna.Study:
    """An in-memory Optuna study holding every row of ``trials.csv`` as a finished trial.

    Rows are added in the order Ray started them (the sequence number in the trial's
    directory name; file order where it has none), so trial numbers match the search's. Each
    trial keeps its directory name and status text as user attributes ``name`` and ``status``.
    """
    csv_path = Path(csv_path)
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    column = f"best_{space.metric}"
    required = ["trial", column, "status"]
    missing = [c for c in required + list(space.params) if c not in header]
    if missing:
        raise ValueError(f"{csv_path} lacks the column(s) {', '.join(missing)}; is it the trial table of "
                         f"search space {space.name!r}?")
    distributions = {key: to_optuna(dist) for key, dist in space.params.items()}
    order = sorted(range(len(rows)), key=lambda i: _sequence(rows[i]["trial"], i))
    trials: list[FrozenTrial] = []
    for i in order:
        row = rows[i]
        params = {key: parse_param(row[key], dist, key) for key, dist in space.params.items()
                  if not (row[key] == "" and dist.kind != "choice")}  # a failed trial may lack params
        try:
            outcome = TrialOutcome.from_row(row)
        except ValueError as err:
            raise ValueError(f"{csv_path}: trial {row['trial']}: {err}") from None
        value = _number(row[column])
        attrs = {"name": row["trial"], "status": outcome.label()}
        dists = {key: distributions[key] for key in params}
        state = outcome.optuna_state
        if state == TrialState.COMPLETE and math.isfinite(value):
            trial = optuna.trial.create_trial(params=params, distributions=dists, value=value, user_attrs=attrs)
        elif state == TrialState.PRUNED:
            steps = {outcome.epoch: value} if math.isfinite(value) else {}
            trial = optuna.trial.create_trial(params=params, distributions=dists, state=TrialState.PRUNED,
                                              intermediate_values=steps, user_attrs=attrs)
        else:
            trial = optuna.trial.create_trial(params=params, distributions=dists, state=TrialState.FAIL,
                                              user_attrs=attrs)
        trials.append(trial)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        study = optuna.create_study(study_name=space.name, direction="maximize" if space.mode == "max" else "minimize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(trials)
    return study


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def importance_figure(study: optuna.Study) -> Figure | None:
    """Horizontal bars of Optuna's fANOVA parameter importances (Hutter et al. 2014), or None.

    None when importances are undefined: fewer than 2 complete trials, every searched
    parameter constant over them, or every complete trial with the same value (fANOVA has
    no variance to split). Importances sum to 1; a single varying parameter gets 1.
    """
    complete = _complete(study)
    if len(complete) < 2 or len({t.value for t in complete}) < 2:
        return None
    varying = [key for key in complete[0].params
               if all(key in t.params for t in complete) and len({repr(t.params[key]) for t in complete}) > 1]
    if not varying:
        return None
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    names = list(importances)[::-1]  # most important on top
    values = [float(importances[n]) for n in names]
    fig = new_figure((IMPORTANCE_INCHES[0], HEADER_INCHES + IMPORTANCE_INCHES[1] * len(names)))
    ax = fig.add_subplot()
    bars = ax.barh(names, values, color="#4c72b0")
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:.2f}", (value, bar.get_y() + bar.get_height() / 2), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("importance (fANOVA, share of objective variance)")
    ax.set_title(f"{study.study_name}: parameter importances over {len(complete)} complete trials", fontsize=10)
    return fig


def history_figure(study: optuna.Study, metric: str) -> Figure:
    """The objective of each trial by trial number, and the best so far (complete trials).

    Complete trials are dots; pruned trials (stopped by ASHA, collapsed or interrupted) are
    crosses at the partial score they reached (their last intermediate value); failed trials
    have no score and are counted in the title.
    """
    maximise = study.direction == optuna.study.StudyDirection.MAXIMIZE
    complete = _complete(study)
    pruned = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)) if t.intermediate_values]
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    fig = new_figure(HISTORY_INCHES)
    ax = fig.add_subplot()
    if complete:
        numbers = np.array([t.number for t in complete])
        values = np.array([t.value for t in complete], dtype=float)
        ax.scatter(numbers, values, color="#4c72b0", s=24, zorder=3, label="complete")
        best = np.maximum.accumulate(values) if maximise else np.minimum.accumulate(values)
        ax.step(numbers, best, where="post", color="#c44e52", label="best so far")
    if pruned:
        last = [t.intermediate_values[max(t.intermediate_values)] for t in pruned]
        ax.scatter([t.number for t in pruned], last, marker="x", color="#8c8c8c", s=30, zorder=3,
                   label="pruned / collapsed / interrupted (partial score)")
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"{metric} ({'max' if maximise else 'min'})")
    counts = f"{len(complete)} complete, {len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))} " \
             f"pruned, {len(failed)} failed"
    ax.set_title(f"{study.study_name}: optimisation history ({counts})", fontsize=10)
    if complete or pruned:
        ax.legend(fontsize=8, loc="best")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return fig
