"""Reading the confirmation stage back: each candidate's runs, their ranking, the winner.

Candidates are ranked by their mean objective over seeds (val split, each run's best
evaluation after epoch 0). A candidate's replicate 0 may be the search trial that chose it
(:mod:`trainables.confirm`): with ``top`` above 1 that run is the one whose score picked the
candidate, so the ranking leans a little towards the luckiest first run; the test verdict does
not (test was not used to choose). The winner's lead over the runner-up carries a paired interval:
for kNN objectives a two-level bootstrap over seeds and val items (the runs are re-embedded
from their checkpoints), for other objectives a t-interval of the per-seed differences
(paired by replicate). Only search candidates (and label-using ones only where the space
allows) can win; the base config and the supervised reference are what the winner is judged
against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import stats

from search_spaces import SearchSpace
from ssl_core.objective import best_evaluation
from ssl_core.run import best_checkpoint
from trainables.confirm import CONFIRM_DIR, SEARCH, Candidate, job_of
from trainables.trial_folder import trial_run_dir

KNN_OBJECTIVES = ("knn_top1", "knn_balanced_top1")


@dataclass
class CandidateRuns:
    candidate: Candidate
    scores: dict[int, float] = field(default_factory=dict)  # replicate -> best val objective
    checkpoints: dict[int, Path] = field(default_factory=dict)  # replicate -> its checkpoints/best

    @property
    def mean(self) -> float:
        values = [v for v in self.scores.values() if math.isfinite(v)]
        return float(np.mean(values)) if values else math.nan

    def ordered_checkpoints(self) -> list[Path]:
        return [self.checkpoints[r] for r in sorted(self.checkpoints)]


def confirmed_runs(experiment_dir: Path, space: SearchSpace, candidates: Sequence[Candidate]) -> list[CandidateRuns]:
    """Every finished run of each candidate, grouped by candidate (in candidate order): the
    confirmation stage's, and the search trial a candidate reuses as its replicate 0."""
    from trainables.results import load_experiment

    groups = [CandidateRuns(c) for c in candidates]
    reused = {c.search_trial: i for i, c in enumerate(candidates) if c.search_trial}
    if reused:
        results, _ = load_experiment(experiment_dir)
        for result in results:
            if Path(result.path).name in reused:  # chosen when it had finished: no status to check
                _add_run(groups[reused[Path(result.path).name]], 0, result, space)
    path = experiment_dir / CONFIRM_DIR
    if not path.is_dir():
        return groups
    results, statuses = load_experiment(path)
    for result in results:
        config = result.config or {}
        # Only finished runs count: an interrupted one would rank by its first epochs.
        if not ({"run", "candidate"} & set(config)) or statuses.get(Path(result.path).name) != "TERMINATED":
            continue
        candidate, replicate = job_of(config)
        _add_run(groups[candidate], replicate, result, space)
    return groups


def _add_run(group: CandidateRuns, replicate: int, result: Any, space: SearchSpace) -> None:
    """A finished Tune run's best objective (after epoch 0) and its best checkpoint, as ``replicate``."""
    history = result.metrics_dataframe
    if history is None or space.metric not in history or "epoch" not in history:
        return
    pairs = history[["epoch", space.metric]].dropna()
    score, epoch = best_evaluation(zip(pairs["epoch"].astype(int), pairs[space.metric].astype(float)), space.mode)
    checkpoint = best_checkpoint(trial_run_dir(result.path))
    if epoch is None or not checkpoint.is_dir():
        return
    group.scores[replicate] = score
    group.checkpoints[replicate] = checkpoint


def run_seeds(checkpoints: Sequence[Path]) -> list[int]:
    """The training seed of each run (from its checkpoint's config)."""
    from ssl_core.run import read_run_config

    return [read_run_config(c).train.seed for c in checkpoints]


def eligible(groups: Sequence[CandidateRuns], space: SearchSpace) -> list[CandidateRuns]:
    """Search candidates that may win, best mean first."""
    allowed = [g for g in groups if g.candidate.role == SEARCH and g.checkpoints
               and (space.confirm.labelled_eligible or not g.candidate.uses_labels) and math.isfinite(g.mean)]
    sign = -1 if space.mode == "max" else 1
    return sorted(allowed, key=lambda g: sign * g.mean)


def lead_over_runner_up(winner: CandidateRuns, runner_up: CandidateRuns, space: SearchSpace) -> tuple[float, float, float]:
    """``(difference, low, high)`` of winner minus runner-up in the objective (val), paired by seed."""
    common = sorted(set(winner.checkpoints) & set(runner_up.checkpoints))
    if space.metric in KNN_OBJECTIVES and common:
        from ssl_core.eval.uncertainty import difference_interval
        from ssl_core.run import load_run
        from ssl_core.run_report import split_hits

        def hits(group: CandidateRuns) -> tuple[np.ndarray, np.ndarray]:
            rows = [split_hits(load_run(group.checkpoints[r]), "val") for r in common]
            return np.stack([h for h, _ in rows]), rows[0][1]

        (a, labels), (b, _) = hits(winner), hits(runner_up)
        diff = difference_interval(a, b, labels=labels if space.metric == "knn_balanced_top1" else None,
                                   paired_seeds=True)
        return diff.delta, diff.low, diff.high
    deltas = np.array([winner.scores[r] - runner_up.scores[r] for r in common])
    if len(deltas) < 2:
        return float(deltas.mean()) if len(deltas) else math.nan, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(deltas) - 1) * deltas.std(ddof=1) / math.sqrt(len(deltas)))
    return float(deltas.mean()), float(deltas.mean()) - half, float(deltas.mean()) + half


def ranking_lines(groups: Sequence[CandidateRuns], space: SearchSpace) -> list[str]:
    """The confirmation table: every candidate's per-seed and mean val objective."""
    lines = [f"| candidate | val {space.metric} per seed | mean | params |", "|---|---|---|---|"]
    for g in groups:
        per_seed = ", ".join(f"{g.scores[r]:.4g}" for r in sorted(g.scores)) or "-"
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in g.candidate.params.items()) or "-"
        note = " (uses labels)" if g.candidate.uses_labels else ""
        lines.append(f"| {g.candidate.name}{note} | {per_seed} | {g.mean:.4g} | {params} |")
    return lines
