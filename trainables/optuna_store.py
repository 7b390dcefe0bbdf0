"""The search's Optuna study on disk: ``<experiment>/optuna.journal``, read by optuna-dashboard.

The searcher (``trainables/optuna_search.py``) writes every ask, intermediate value, user
attribute and tell into an Optuna *journal file* in the experiment folder, as the search
runs; ``optuna-dashboard runs/<experiment>/optuna.journal`` shows it live and afterwards.
Why a journal rather than SQLite (docs/design.md, "The Optuna study on disk"): the
experiment folder sits on shared storage (NFS) on a cluster, where SQLite's locking is
unreliable and Optuna's journal backend is the documented choice; it is append-only, and a
format without a schema needs no ``optuna storage upgrade`` when Optuna changes.

An experiment from before the study was kept on disk has none: :func:`ensure_study` writes
one from its ``trials.csv`` (``--summarise`` and the end of a search call it).
No Ray here.
"""

from __future__ import annotations

import csv
import math
import os
import re
import warnings
from datetime import datetime
from pathlib import Path
from typing import Iterable

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from search_spaces.space import SearchSpace

STUDY_FILE = "optuna.journal"
# User attributes the search sets on each Optuna trial (the dashboard shows them per trial).
ATTR_TUNE_ID = "tune_trial_id"  # the Tune trial id (8 hex digits in the trial's folder name)
ATTR_NAME = "name"  # the trial's folder name (set when the study is rebuilt from trials.csv)
ATTR_BEST_EPOCH = "best_epoch"  # the evaluation the trial's score comes from
ATTR_IMPORTED = "warm_start_from"  # imported from an earlier search's study (its folder)
ATTR_IMPORTED_NUMBER = "warm_start_trial"  # its number there
ATTR_DUPLICATE = "duplicate_of"  # proposed again after a warm start, told FAIL, not run
ATTR_ABANDONED = "abandoned"  # asked before an interruption the resumed search does not know


def name_objective(study: optuna.Study, metric: str) -> None:
    """Name the study's objective after the metric (the dashboard's axes say ``knn_top1``, not
    ``Objective 0``); Optuna marks the call experimental, which is no news to a user here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([metric])


def study_path(experiment_dir: str | Path) -> Path:
    return Path(experiment_dir) / STUDY_FILE


def journal_storage(path: str | Path) -> JournalStorage:
    """The journal at ``path`` (created when missing), its cut last line dropped first.

    A process killed while appending leaves a last line without its newline; Optuna skips such
    a line when reading, but the next append would glue onto it and make the file unreadable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.stat().st_size:
        with path.open("rb+") as handle:
            data = handle.read()
            if not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
    return JournalStorage(JournalFileBackend(str(path)))


def interval_attrs(metric: str, low: float | None, high: float | None) -> dict[str, float]:
    """``{<metric>_low, <metric>_high}``: the score's 95 % interval, where it has one."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return {}
    return {f"{metric}_low": float(low), f"{metric}_high": float(high)}


def told_values(history: Iterable[tuple[int, float]], mode: str) -> dict[int, float]:
    """The intermediate values the search tells Optuna for a trial's ``(epoch, value)`` history.

    Epoch 0 (the untrained network) as measured, then at each later epoch the trial's score so
    far (its best value after epoch 0), so the last intermediate value of a stopped trial is its
    score (``trainables/optuna_search.py`` tells them as they come; this rebuilds them).
    """
    out: dict[int, float] = {}
    best = math.nan
    for epoch, value in sorted(history):
        if not math.isfinite(value):
            continue
        if epoch <= 0:
            out[epoch] = float(value)
            continue
        if math.isnan(best) or (value >= best if mode == "max" else value <= best):
            best = float(value)
        out[epoch] = best
    return out


def load_search_study(experiment_dir: str | Path) -> optuna.Study:
    """The study an experiment kept (one per file), for reading: tests, warm starts, users."""
    path = study_path(experiment_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the search kept no Optuna study there")
    storage = journal_storage(path)
    names = [s.study_name for s in storage.get_all_studies()]
    if len(names) != 1:
        raise ValueError(f"{path} holds {len(names)} studies ({', '.join(names) or 'none'}); expected one")
    return optuna.load_study(study_name=names[0], storage=storage)


def _progress(trial_dir: Path, metric: str) -> tuple[list[tuple[int, float]], tuple[datetime, datetime] | None]:
    """A trial folder's ``progress.csv`` (Tune's): ``(epoch, metric)`` of each evaluation, and when
    the trial started and last reported (None without times)."""
    path = trial_dir / "progress.csv"
    if not path.is_file():
        return [], None
    history, times = [], []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                times.append((float(row["timestamp"]), float(row.get("time_total_s") or 0.0)))
                history.append((int(float(row["epoch"])), float(row[metric])))
            except (KeyError, TypeError, ValueError):
                continue  # a row without an evaluation
    if not times:
        return history, None
    start = min(t - total for t, total in times)
    return history, (datetime.fromtimestamp(start), datetime.fromtimestamp(max(t for t, _ in times)))


def rebuild_study(experiment_dir: str | Path, space: SearchSpace) -> Path:
    """Write ``<experiment>/optuna.journal`` from ``trials.csv`` and each trial's ``progress.csv``.

    The trials, their states and scores are those of :func:`trainables.study_report.study_from_trials`;
    the intermediate values come from each trial's history (:func:`told_values`), and the
    interval of the score from ``best_<metric>_low`` / ``_high``. The journal is written
    beside the target and renamed into place, so a reader never sees half a study.
    """
    from trainables.study_report import study_from_trials

    experiment_dir = Path(experiment_dir)
    csv_path = experiment_dir / "trials.csv"
    memory = study_from_trials(csv_path, space)
    with csv_path.open(newline="") as handle:
        rows = {row["trial"]: row for row in csv.DictReader(handle)}
    trials: list[FrozenTrial] = []
    for trial in memory.trials:
        name = trial.user_attrs.get(ATTR_NAME, "")
        row = rows.get(name, {})
        history, times = _progress(experiment_dir / name, space.metric)
        steps = told_values(history, space.mode) or trial.intermediate_values
        attrs = dict(trial.user_attrs)
        attrs.update(interval_attrs(space.metric, _float(row.get(f"best_{space.metric}_low")),
                                    _float(row.get(f"best_{space.metric}_high"))))
        if row.get("best_epoch"):
            attrs[ATTR_BEST_EPOCH] = int(float(row["best_epoch"]))
        attrs["rebuilt_from"] = "trials.csv"
        tune_id = re.search(r"_([0-9a-f]{8})_", name)
        if tune_id:
            attrs[ATTR_TUNE_ID] = tune_id.group(1)
        # FrozenTrial rather than create_trial: the dashboard's timeline shows when each trial ran.
        trials.append(FrozenTrial(
            number=trial.number, trial_id=trial.number, state=trial.state, params=trial.params,
            distributions=trial.distributions, user_attrs=attrs, system_attrs={},
            value=trial.value if trial.state == TrialState.COMPLETE else None,
            intermediate_values=steps if trial.state != TrialState.FAIL else {},
            datetime_start=times[0] if times else trial.datetime_start,
            datetime_complete=times[1] if times else trial.datetime_complete))
    target = study_path(experiment_dir)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    study = optuna.create_study(study_name=experiment_dir.name, storage=journal_storage(tmp),
                                direction=memory.direction)
    name_objective(study, space.metric)
    study.add_trials(trials)
    os.replace(tmp, target)
    return target


def _float(cell: str | None) -> float | None:
    try:
        return float(cell) if cell not in (None, "") else None
    except ValueError:
        return None


def ensure_study(experiment_dir: str | Path, space: SearchSpace) -> str | None:
    """Rebuild the study file from ``trials.csv`` when the experiment has none; a note when it did."""
    experiment_dir = Path(experiment_dir)
    if study_path(experiment_dir).is_file() or not (experiment_dir / "trials.csv").is_file():
        return None
    rebuild_study(experiment_dir, space)
    return f"optuna study: {study_path(experiment_dir)} rebuilt from trials.csv (the search kept none)"

