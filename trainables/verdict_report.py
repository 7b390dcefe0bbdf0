"""Which configuration the search recommends, and the verdict on it (``summary.md``'s first block).

With a confirmation stage (:mod:`trainables.confirm`), the winner is the confirmed candidate
with the best mean objective over seeds; without one (``confirm: none``), the search's best
trial, from its one seed. The winner's runs are then judged on the test split
(:mod:`ssl_core.verdict`) against their own untrained networks, fixed features, and the base
config and supervised reference when the confirmation stage trained them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from search_spaces import SearchSpace
from ssl_core.atomic import atomic_write_text
from ssl_core.checkpoint import read_checkpoint
from ssl_core.finetune_table import verdict_rows as finetune_verdict_rows
from trainables.confirm import BASE, SUPERVISED, read_candidates
from trainables.confirm_results import confirmed_runs, eligible, lead_over_runner_up, ranking_lines, run_seeds

VERDICT_FILE = "verdict.json"


@dataclass
class Winner:
    label: str  # as the verdict names it
    params: dict[str, Any]
    checkpoints: list[Path]  # one per training seed; the first is tested, exported and drawn
    lines: list[str]  # how it was chosen, for the summary
    heading: str  # the summary's line that names it: "best trial: <trial folder>" or "recommended: <candidate>"
    references: list[tuple[str, list[Path], str]] = field(default_factory=list)  # (name, checkpoints, note)


def choose_winner(scored: Sequence[Any], space: SearchSpace, experiment_dir: Path,
                  best_trial_checkpoint) -> Winner | None:
    """The recommended configuration. ``scored``: the search's scored trial rows, best first."""
    candidates = read_candidates(experiment_dir) if space.confirm else None
    unfinished = ""
    if candidates:
        groups = confirmed_runs(experiment_dir, space, candidates)
        ranked = eligible(groups, space)
        done, expected = sum(len(g.scores) for g in groups), len(candidates) * space.confirm.seeds
        if done < expected:
            unfinished = (f"the confirmation stage has finished {done} of its {expected} runs; `python launch.py "
                          f"--resume --name {experiment_dir.name}` finishes it")
            ranked = []
        if ranked:
            top = ranked[0]
            lines = [f"## Confirmation: {len(candidates)} candidates x {space.confirm.seeds} seeds, "
                     f"{space.confirm_epochs} epochs each (val {space.metric}, each run's best epoch after 0)", "",
                     *ranking_lines(groups, space), ""]
            if len(ranked) > 1:
                delta, low, high = lead_over_runner_up(top, ranked[1], space)
                word = "ahead" if low > 0 else "not separable from the runner-up"
                lines.append(f"winner: {top.candidate.name}, {delta:+.3g} over {ranked[1].candidate.name} "
                             f"(95 % CI {low:+.3g}..{high:+.3g}, paired by seed): {word}")
            else:
                lines.append(f"winner: {top.candidate.name} (the only eligible candidate)")
            winner_seeds = run_seeds(top.ordered_checkpoints())
            refs = [(g.candidate.name, g.ordered_checkpoints(),
                     ("same seeds and budget" if run_seeds(g.ordered_checkpoints()) == winner_seeds
                      else "same budget, paired by replicate")
                     + (", uses labels" if g.candidate.role == SUPERVISED else ""))
                    for g in groups if g.candidate.role in (BASE, SUPERVISED) and g.checkpoints]
            return Winner(top.candidate.name, top.candidate.params, top.ordered_checkpoints(), lines,
                          f"recommended: {top.candidate.name}", refs)
    if not scored:
        return None
    best = scored[0]
    why = ("confirm: none in the space" if not space.confirm else
           unfinished if candidates and unfinished else "the confirmation stage has not run")
    return Winner(f"best trial {best.name.split('_')[2] if best.name.count('_') >= 2 else best.name}", best.params,
                  [best_trial_checkpoint(best)],
                  [f"winner: the search's best trial, from one training seed ({why}); its val {space.metric}: "
                   f"{best.best:.4g} (epoch {best.best_epoch})"], f"best trial: {best.name}")


def _shortcut(checkpoints: Sequence[Path]) -> tuple[float, float] | None:
    """Mean ``recording_share`` and chance of the runs' best checkpoints (their val evaluation)."""
    readings = []
    for checkpoint in checkpoints:
        metrics = read_checkpoint(checkpoint, map_location="cpu").get("metrics") or {}
        if math.isfinite(float(metrics.get("recording_share", math.nan))):
            readings.append((float(metrics["recording_share"]), float(metrics["recording_share_chance"])))
    return tuple(np.mean(readings, axis=0).tolist()) if readings else None


def verdict_block(winner: Winner, space: SearchSpace, experiment_dir: Path) -> list[str]:
    """Score every contender on test, compare, write ``verdict.json``; the lines for the summary."""
    from ssl_core.verdict import BEST, decide, score_fixed_features, score_runs, score_trained

    metric = "knn_balanced_top1" if space.metric == "knn_balanced_top1" else "knn_top1"
    best, untrained = score_runs(winner.checkpoints, BEST, note=winner.label)
    others = [(untrained, True), (score_fixed_features(winner.checkpoints[0]), False)]
    for name, checkpoints, note in winner.references:
        others.append((score_trained(checkpoints, name, note), False))
    verdict = decide(best, others, metric, _shortcut(winner.checkpoints))
    # `python -m ssl_core.finetune <experiment>` ran: its fine-tuned vs from-scratch rows join the verdict.
    finetune = finetune_verdict_rows(experiment_dir)
    atomic_write_text(experiment_dir / VERDICT_FILE,
                      json.dumps(verdict.to_dict() | {"finetune": finetune}, indent=2) + "\n")
    lines = verdict.lines() + finetune
    if metric != space.metric:
        lines.append(f"- (the search's objective is {space.metric}; the verdict uses kNN top-1, the one score "
                     "every contender has)")
    return [*lines, "", *verdict.table(), ""]
