"""The verdict: is the configuration a search recommends better than what the user had without it?

On the test split (touched only here), with the same weighted kNN as the objective, the
recommended configuration's runs (one per training seed) are compared with:

* **the untrained backbone**: the same runs' own networks before training (the same seeds,
  so the comparison is paired by seed);
* **fixed features**: no learning at all (:func:`ssl_core.baselines.fixed_feature_embeddings`),
  the floor every learned embedding must clear;
* **the supervised reference** and **the space's base configuration**, when the confirmation
  stage trained them (the same backbone, budget and seeds).

Each comparison is the difference of mean accuracy with a 95 % interval from a two-level
bootstrap over training seeds and test items (:func:`ssl_core.eval.uncertainty.difference_interval`);
"beats it" only when the whole interval is above zero. The shortcut probe's reading of the
recommended runs (``recording_share`` against its chance level) is stated beside.

Everything is recomputed from checkpoints, so ``launch.py --summarise`` rebuilds it from the
experiment folder alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ssl_core.eval.uncertainty import Difference, accuracy_interval, balanced_accuracy, difference_interval

BEST = "best self-supervised config"


@dataclass
class Arm:
    """One contender scored on the test split: ``hits [S, N]`` (a row per training seed), ``labels [N]``."""

    name: str
    hits: np.ndarray
    labels: np.ndarray
    seeds: tuple[int, ...] = ()
    note: str = ""  # e.g. "uses labels"

    def score(self, balanced: bool) -> float:
        per_item = self.hits.mean(axis=0)
        return balanced_accuracy(per_item, self.labels) if balanced else 100.0 * float(per_item.mean())

    def interval(self, balanced: bool) -> tuple[float, float]:
        """Over test items, of the seed-averaged hits (seed noise is in the comparisons)."""
        return accuracy_interval(self.hits.mean(axis=0), self.labels if balanced else None)


@dataclass
class Comparison:
    against: str
    difference: Difference

    @property
    def word(self) -> str:
        if self.difference.beats:
            return "beats it"
        return "does not beat it (worse)" if self.difference.loses else "does not beat it"


@dataclass
class Verdict:
    metric: str  # "knn_top1" or "knn_balanced_top1"
    best: Arm
    arms: list[Arm]  # the others, in the order shown
    comparisons: list[Comparison] = field(default_factory=list)
    shortcut: tuple[float, float] | None = None  # (recording_share, chance) of the best runs, val split

    def lines(self) -> list[str]:
        """The verdict block: one line per comparison, then the shortcut probe's reading."""
        out = [f"## Verdict (test split, {self.metric}, {len(self.best.hits)} seed(s), 95 % CI over seeds and "
               f"{self.best.hits.shape[1]} test items)"]
        for comp in self.comparisons:
            d = comp.difference
            out.append(f"- {self.best.name} vs {comp.against}, test {self.metric}: {d.a:.1f} vs {d.b:.1f} "
                       f"({d.delta:+.1f}, 95 % CI {d.low:+.1f}..{d.high:+.1f}): {comp.word}")
        if self.shortcut is not None and not math.isnan(self.shortcut[0]):
            share, chance = self.shortcut
            grouped = "the embedding groups by recording" if share > chance + 0.5 * (100 - chance) else \
                "no strong grouping by recording"
            out.append(f"- shortcut probe (val): {grouped}: {share:.0f} % of windows' nearest same-class "
                       f"neighbours are the same recording (chance {chance:.0f} %)")
        return out

    def table(self) -> list[str]:
        """Every contender's test score with its interval over test items."""
        balanced = self.metric == "knn_balanced_top1"
        rows = ["| contender | seeds | test " + self.metric + " | 95 % CI (items) | note |", "|---|---|---|---|---|"]
        for arm in [self.best, *self.arms]:
            low, high = arm.interval(balanced)
            rows.append(f"| {arm.name} | {len(arm.hits)} | {arm.score(balanced):.1f} | {low:.1f}..{high:.1f} | "
                        f"{arm.note} |")
        return rows

    def to_dict(self) -> dict:
        balanced = self.metric == "knn_balanced_top1"
        return {"metric": self.metric,
                "arms": {arm.name: {"score": arm.score(balanced), "seeds": list(arm.seeds), "items": int(arm.hits.shape[1]),
                                    "interval": list(arm.interval(balanced)), "note": arm.note}
                         for arm in [self.best, *self.arms]},
                "comparisons": [{"against": c.against, "a": c.difference.a, "b": c.difference.b,
                                 "delta": c.difference.delta, "low": c.difference.low, "high": c.difference.high,
                                 "verdict": c.word} for c in self.comparisons],
                "shortcut": None if self.shortcut is None else {"recording_share": self.shortcut[0],
                                                                "chance": self.shortcut[1]}}


def decide(best: Arm, others: Sequence[tuple[Arm, bool]], metric: str,
           shortcut: tuple[float, float] | None = None) -> Verdict:
    """Compare ``best`` with each ``(arm, paired_by_seed)``; ``metric`` picks micro or balanced top-1."""
    balanced = metric == "knn_balanced_top1"
    verdict = Verdict(metric=metric, best=best, arms=[arm for arm, _ in others], shortcut=shortcut)
    for arm, paired in others:
        diff = difference_interval(best.hits, arm.hits, labels=best.labels if balanced else None,
                                   paired_seeds=paired)
        verdict.comparisons.append(Comparison(against=arm.name, difference=diff))
    return verdict


def score_runs(checkpoints: Sequence[Path], name: str, note: str = "") -> tuple[Arm, Arm]:
    """Test-split hits of trained runs and of the same runs untrained: ``(trained, untrained)`` arms."""
    from ssl_core.baselines import untrained_run
    from ssl_core.run_report import split_hits

    trained = score_trained(checkpoints, name, note)
    untrained = np.stack([split_hits(untrained_run(checkpoint), "test")[0] for checkpoint in checkpoints])
    return trained, Arm("untrained backbone", untrained, trained.labels, trained.seeds,
                        "same seeds, no training, batch-norm statistics of the train split")


def score_trained(checkpoints: Sequence[Path], name: str, note: str = "") -> Arm:
    """Test-split hits of trained runs (one row per checkpoint)."""
    from ssl_core.run import load_run
    from ssl_core.run_report import split_hits

    rows, seeds, labels = [], [], None
    for checkpoint in checkpoints:
        run = load_run(checkpoint)
        hits, labels = split_hits(run, "test")
        rows.append(hits)
        seeds.append(run.cfg.train.seed)
    return Arm(name, np.stack(rows), labels, tuple(seeds), note)


def score_fixed_features(checkpoint: Path) -> Arm:
    """The no-learning floor, scored with the run's data, front end and kNN settings."""
    from ssl_core.baselines import fixed_feature_embeddings
    from ssl_core.eval.evaluate import knn_hits
    from ssl_core.run import load_run

    run = load_run(checkpoint, trained=False)
    bank, queries = fixed_feature_embeddings(run, "test")
    hits, labels = knn_hits(bank, queries, run.data.num_classes, k=run.cfg.eval.knn_k,
                            temperature=run.cfg.eval.knn_temperature)
    what = "per-band log-mel mean and std" if run.data.index.modality == "audio" else "normalised pixels"
    return Arm("fixed features", hits[None], labels, (), f"{what}, z-scored, no training")
