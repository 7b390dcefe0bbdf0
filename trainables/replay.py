"""Replay searches against a table of measured learning curves (a tabular HPO benchmark).

Each search is a real Ray Tune run with the product's own searcher and scheduler; its
function trainable trains nothing: it reports the table's curve of the grid point nearest
(in log space) to the proposed value, one result per epoch, so ASHA stops it at a rung
exactly as it would stop a real trial. A driver-side callback records every result in the
order Tune received it; compute (epochs trained) is counted along that timeline.

Used by ``bench/search_efficiency.py``; ``ray`` may only be imported under ``trainables/``.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import ray
from ray import tune
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from search_spaces import SearchSpace
from search_spaces.loader import with_budget
from trainables.search import SearchPlan, _scheduler, _searcher
from trainables.trial import TrialResources

GRID_INDEX = "grid_index"
# Tune's old console output honours verbose=0 (the new one still prints a box per run).
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


@dataclass(frozen=True)
class CurveTable:
    """Measured curves on a log-spaced grid of one parameter (metric to maximise).

    ``curves[i][e - 1]`` is the metric after ``e`` epochs (``e = 1..epochs``) at
    ``temperatures[i]``; shape ``[G, E]``. The grid must be ascending and positive.
    """

    param: str
    metric: str
    low: float
    high: float
    temperatures: tuple[float, ...]
    curves: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        grid = np.asarray(self.temperatures, dtype=float)
        if grid.ndim != 1 or len(grid) < 1 or (grid <= 0).any() or (np.diff(grid) <= 0).any():
            raise ValueError(f"the grid of {self.param} must be positive and ascending, got {self.temperatures}")
        lengths = {len(c) for c in self.curves}
        if len(self.curves) != len(grid) or len(lengths) != 1 or 0 in lengths:
            raise ValueError(f"need one curve of equal, non-zero length per grid point; got {len(self.curves)} "
                             f"curves of lengths {sorted(lengths)} for {len(grid)} points")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CurveTable":
        """From the bench's JSON, whose curves start with the untrained epoch 0 (dropped here)."""
        return cls(param=data["param"], metric=data["metric"], low=float(data["low"]), high=float(data["high"]),
                   temperatures=tuple(float(t) for t in data["temperatures"]),
                   curves=tuple(tuple(float(v) for v in curve[1:]) for curve in data["curves"]))

    @property
    def size(self) -> int:
        return len(self.temperatures)

    @property
    def epochs(self) -> int:
        return len(self.curves[0])

    @property
    def grid_best(self) -> float:
        """The best value the full grid reports (any point, any epoch)."""
        return max(max(curve) for curve in self.curves)

    @property
    def best_index(self) -> int:
        return int(np.argmax([max(curve) for curve in self.curves]))

    def nearest(self, value: float) -> int:
        """Index of the grid point nearest to ``value`` in log space."""
        return int(np.argmin(np.abs(np.log(np.asarray(self.temperatures)) - math.log(value))))


@dataclass
class ReplayRun:
    """One replayed search: ``timeline`` is every result as ``(trial_id, epoch, value)``."""

    strategy: str
    seed: int
    timeline: list[tuple[str, int, float]] = field(default_factory=list)
    grid_index: dict[str, int] = field(default_factory=dict)  # trial id -> grid point trained
    proposed: dict[str, float] = field(default_factory=dict)  # trial id -> value the strategy proposed

    @property
    def total_compute(self) -> int:
        """Epochs trained: one per reported result."""
        return len(self.timeline)

    @property
    def best(self) -> float:
        return max((value for _, _, value in self.timeline), default=-math.inf)

    def compute_to_reach(self, target: float) -> int | None:
        """Epochs trained when the best value so far first reaches ``target``; None if never."""
        for spent, (_, _, value) in enumerate(self.timeline, start=1):
            if value >= target:
                return spent
        return None


class _Timeline(tune.Callback):
    """Driver-side: records each result as Tune processes it (the order ASHA sees them)."""

    def __init__(self, run: ReplayRun, metric: str, param: str) -> None:
        self.run, self.metric, self.param = run, metric, param

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.run.timeline.append((trial.trial_id, int(result["epoch"]), float(result[self.metric])))
        self.run.grid_index[trial.trial_id] = int(result[GRID_INDEX])
        self.run.proposed[trial.trial_id] = float(trial.config[self.param])


def _curve_trainable(table: CurveTable):
    def report_curve(config: dict[str, Any]) -> None:
        index = table.nearest(config[table.param])
        for epoch, value in enumerate(table.curves[index], start=1):
            tune.report({table.metric: value, "epoch": epoch, GRID_INDEX: index})

    return report_curve


def start_local_ray(num_cpus: int = 2) -> None:
    """A small local Ray for replays (no dashboard: these trials start no Train worker groups)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one "study created" line per replay otherwise
    # _searcher passes seed= beside a seeded sampler; Ray warns that it uses the sampler's (same seed).
    logging.getLogger("ray.tune.search.optuna.optuna_search").setLevel(logging.ERROR)
    if not ray.is_initialized():
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)


def _strategy_config(strategy: str, table: CurveTable, space: SearchSpace, seed: int, trials: int,
                     concurrent: int, storage: Path) -> tuple[dict[str, Any], tune.TuneConfig]:
    dist = space.params[table.param]
    if strategy in ("tpe+asha", "tpe"):
        budget = with_budget(space, trials=trials)
        plan = SearchPlan(space=budget, overrides=(), storage_path=storage, experiment=strategy,
                          resources=TrialResources(), concurrent=concurrent, seed=seed)
        # "tpe": the same searcher with every trial trained to the end (no early stopping).
        scheduler = _scheduler(budget) if strategy == "tpe+asha" else FIFOScheduler()
        return ({table.param: tune.loguniform(dist.low, dist.high)},
                tune.TuneConfig(search_alg=_searcher(plan), scheduler=scheduler, num_samples=trials,
                                max_concurrent_trials=concurrent, reuse_actors=True))
    if strategy == "random":
        return ({table.param: tune.loguniform(dist.low, dist.high)},
                tune.TuneConfig(search_alg=BasicVariantGenerator(random_state=seed, max_concurrent=concurrent),
                                scheduler=FIFOScheduler(), num_samples=trials, reuse_actors=True))
    if strategy == "grid":
        order = np.random.default_rng(seed).permutation(table.size)
        return ({table.param: tune.grid_search([table.temperatures[i] for i in order])},
                tune.TuneConfig(search_alg=BasicVariantGenerator(max_concurrent=concurrent), scheduler=FIFOScheduler(),
                                num_samples=1, reuse_actors=True))
    raise ValueError(f"unknown strategy {strategy!r}; use one of tpe+asha, tpe, random, grid")


def replay(table: CurveTable, strategy: str, *, seed: int, space: SearchSpace, trials: int,
           concurrent: int = 2) -> ReplayRun:
    """Run one search of ``strategy`` ("tpe+asha", "tpe", "random", "grid") over ``table``.

    ``space`` supplies the objective, epochs and ASHA settings (its epochs must equal the
    table's); ``trials`` is the trial budget (the grid always runs every grid point once).
    """
    if space.epochs != table.epochs:
        space = with_budget(space, epochs=table.epochs)
    if space.metric != table.metric or space.mode != "max":
        raise ValueError(f"the table holds {table.metric} (max); the space optimises {space.mode} {space.metric}")
    run = ReplayRun(strategy=strategy, seed=seed)
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        param_space, tune_config = _strategy_config(strategy, table, space, seed, trials, concurrent, Path(tmp))
        tuner = tune.Tuner(
            tune.with_resources(_curve_trainable(table), {"CPU": 1}), param_space=param_space, tune_config=tune_config,
            run_config=tune.RunConfig(name=f"{strategy}-{seed}", storage_path=tmp, verbose=0,
                                      callbacks=[_Timeline(run, table.metric, table.param)]))
        results = tuner.fit()
    if results.errors:
        raise RuntimeError(f"{strategy} seed {seed}: {len(results.errors)} trial(s) failed: {results.errors[0]}")
    return run

