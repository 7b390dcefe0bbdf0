"""The label-efficiency table of ``python -m ssl_core.finetune``: results, table, plot, verdict rows.

Each finished run (one label fraction, one training seed, one start: the search's backbone or a
random one) is a small JSON file with its test-split hits (``[N]`` 0/1 per test item) and
labels, so every number here is recomputed from those files: means over seeds with a 95 %
interval from the two-level bootstrap over seeds and test items, and the fine-tuned minus
from-scratch difference paired by seed (:mod:`ssl_core.eval.uncertainty`, as the verdict).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ssl_core.atomic import atomic_write_text
from ssl_core.eval.figures import new_figure, save_figure
from ssl_core.eval.uncertainty import Difference, balanced_accuracy, difference_interval

FINETUNE_DIR = "finetune"  # inside the experiment (or run) folder
RESULTS_DIR = "results"
TABLE_FILE = "label_efficiency.json"  # the last complete table; the verdict reads it
SSL, SCRATCH = "ssl", "scratch"
INIT_NAMES = {SSL: "fine-tuned from the best config", SCRATCH: "supervised from scratch"}


@dataclass
class RunResult:
    """One fine-tuning run's test-split outcome."""

    init: str  # SSL or SCRATCH
    fraction: float
    seed: int
    hits: np.ndarray  # [N] 0/1: the classifier's top-1 on each test item
    labels: np.ndarray  # [N] class of each test item
    train_items: int  # labelled train recordings it learned from
    epochs: int
    steps: int  # optimiser steps in all
    seconds: float

    def to_dict(self) -> dict:
        return {"init": self.init, "fraction": self.fraction, "seed": self.seed, "hits": self.hits.astype(int).tolist(),
                "labels": self.labels.astype(int).tolist(), "train_items": self.train_items, "epochs": self.epochs,
                "steps": self.steps, "seconds": self.seconds,
                "top1": 100.0 * float(self.hits.mean()), "balanced_top1": balanced_accuracy(self.hits, self.labels)}

    @classmethod
    def from_dict(cls, raw: dict) -> "RunResult":
        return cls(init=raw["init"], fraction=float(raw["fraction"]), seed=int(raw["seed"]),
                   hits=np.asarray(raw["hits"], dtype=np.float64), labels=np.asarray(raw["labels"], dtype=np.int64),
                   train_items=int(raw["train_items"]), epochs=int(raw["epochs"]), steps=int(raw["steps"]),
                   seconds=float(raw["seconds"]))


def result_name(init: str, fraction: float, seed: int, epochs: int) -> str:
    """The file stem of one run: the budget is part of it, so a rerun with other --epochs never
    reuses a result trained for another budget."""
    return f"{init}_f{fraction:g}_s{seed}_e{epochs}"


def write_result(folder: Path, result: RunResult) -> Path:
    path = folder / RESULTS_DIR / f"{result_name(result.init, result.fraction, result.seed, result.epochs)}.json"
    return atomic_write_text(path, json.dumps(result.to_dict()) + "\n")


def read_result(folder: Path, init: str, fraction: float, seed: int, epochs: int) -> RunResult | None:
    path = folder / RESULTS_DIR / f"{result_name(init, fraction, seed, epochs)}.json"
    return RunResult.from_dict(json.loads(path.read_text())) if path.is_file() else None


def _arm(results: Sequence[RunResult]) -> tuple[np.ndarray, np.ndarray]:
    """``hits [S, N]`` (rows in seed order) and ``labels [N]`` of one (init, fraction)."""
    ordered = sorted(results, key=lambda r: r.seed)
    return np.stack([r.hits for r in ordered]), ordered[0].labels


def arm_interval(hits: np.ndarray, labels: np.ndarray, balanced: bool) -> Difference:
    """Mean test top-1 (or balanced top-1) of ``hits [S, N]`` with its 95 % interval over seeds and
    items: the verdict's two-level bootstrap of the difference against an arm that never hits."""
    return difference_interval(hits, np.zeros((1, hits.shape[1])), labels=labels if balanced else None)


@dataclass
class Row:
    fraction: float
    train_items: int
    seeds: int
    scores: dict[str, dict[str, Difference]]  # init -> {"top1" | "balanced_top1": mean with interval}
    gain: dict[str, Difference]  # "top1" | "balanced_top1" -> fine-tuned minus scratch, paired by seed


def table_rows(results: Sequence[RunResult]) -> list[Row]:
    """One row per label fraction that has both starts with the same seeds, smallest fraction first."""
    rows = []
    for fraction in sorted({r.fraction for r in results}):
        by_init = {init: [r for r in results if r.fraction == fraction and r.init == init] for init in (SSL, SCRATCH)}
        seeds = {init: sorted(r.seed for r in runs) for init, runs in by_init.items()}
        if not by_init[SSL] or seeds[SSL] != seeds[SCRATCH]:
            continue
        (ft, labels), (scratch, _) = _arm(by_init[SSL]), _arm(by_init[SCRATCH])
        scores = {init: {"top1": arm_interval(h, labels, False), "balanced_top1": arm_interval(h, labels, True)}
                  for init, h in ((SSL, ft), (SCRATCH, scratch))}
        gain = {"top1": difference_interval(ft, scratch, paired_seeds=True),
                "balanced_top1": difference_interval(ft, scratch, labels=labels, paired_seeds=True)}
        rows.append(Row(fraction, by_init[SSL][0].train_items, len(seeds[SSL]), scores, gain))
    return rows


def _score(d: Difference) -> str:
    """A mean with its interval (an :func:`arm_interval`: the difference against 0)."""
    return f"{d.a:.1f} [{d.low:.1f}, {d.high:.1f}]"


def _gain(d: Difference) -> str:
    return f"{d.delta:+.1f} [{d.low:+.1f}, {d.high:+.1f}]"


def markdown_table(rows: Sequence[Row]) -> list[str]:
    """The table: per fraction, each start's test top-1 and balanced top-1 (mean [95 % CI]) and the gain."""
    out = ["| labels | train items | seeds | fine-tuned top-1 | scratch top-1 | gain | fine-tuned balanced | "
           "scratch balanced | gain (balanced) |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        out.append(f"| {100 * row.fraction:g} % | {row.train_items} | {row.seeds} | {_score(row.scores[SSL]['top1'])} | "
                   f"{_score(row.scores[SCRATCH]['top1'])} | {_gain(row.gain['top1'])} | "
                   f"{_score(row.scores[SSL]['balanced_top1'])} | {_score(row.scores[SCRATCH]['balanced_top1'])} | "
                   f"{_gain(row.gain['balanced_top1'])} |")
    return out


def csv_text(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["fraction", "train_items", "seeds", "init", "top1", "top1_low", "top1_high", "balanced_top1",
                     "balanced_top1_low", "balanced_top1_high"])
    for row in rows:
        for init in (SSL, SCRATCH):
            t, b = row.scores[init]["top1"], row.scores[init]["balanced_top1"]
            writer.writerow([row.fraction, row.train_items, row.seeds, init, t.a, t.low, t.high, b.a, b.low, b.high])
    return buffer.getvalue()


def plot(rows: Sequence[Row], path: Path, title: str) -> Path:
    """Test top-1 and balanced top-1 against the label fraction (log scale), both starts, 95 % bars."""
    fig = new_figure((9.0, 4.0))
    axes = fig.subplots(1, 2, sharey=True)
    x = np.array([100 * r.fraction for r in rows])
    for ax, metric, name in zip(axes, ("top1", "balanced_top1"), ("test top-1 (%)", "test balanced top-1 (%)")):
        for init, marker in ((SSL, "o-"), (SCRATCH, "s--")):
            d = [r.scores[init][metric] for r in rows]
            mean = np.array([v.a for v in d])
            # A percentile interval of a biased statistic (balanced top-1 of few hits) need not
            # contain the point estimate: the bar then starts at the point.
            err = np.clip(np.array([[v.a - v.low, v.high - v.a] for v in d]).T, 0.0, None)
            ax.errorbar(x, mean, yerr=err, fmt=marker, capsize=3, label=INIT_NAMES[init])
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.minorticks_off()
        ax.set_xlabel("labelled share of the train split (%)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def write_table(folder: Path, results: Sequence[RunResult], title: str) -> tuple[list[str], list[Path]]:
    """Write ``label_efficiency.{md,csv,json,png}`` into ``folder``; return the markdown lines and files."""
    rows = table_rows(results)
    lines = [f"# {title}", "", *markdown_table(rows), "",
             "test split, each cell: mean over seeds [95 % CI over seeds and test items]; gain: fine-tuned minus "
             "scratch, paired by seed"]
    files = [atomic_write_text(folder / "label_efficiency.md", "\n".join(lines) + "\n"),
             atomic_write_text(folder / "label_efficiency.csv", csv_text(rows)),
             atomic_write_text(folder / TABLE_FILE, json.dumps({"title": title,
                                                                "runs": [r.to_dict() for r in results]}) + "\n")]
    if rows:
        files.append(plot(rows, folder / "label_efficiency.png", title))
    return lines, files


def verdict_rows(folder: Path) -> list[str]:
    """The verdict's "fine-tuned from the best config vs from scratch" lines, one per label fraction,
    from ``<folder>/finetune/label_efficiency.json``; [] when the fine-tuning has not run."""
    path = Path(folder) / FINETUNE_DIR / TABLE_FILE
    if not path.is_file():
        return []
    runs = [RunResult.from_dict(raw) for raw in json.loads(path.read_text())["runs"]]
    out = []
    for row in table_rows(runs):
        d = row.gain["top1"]
        word = "beats it" if d.beats else "does not beat it (worse)" if d.loses else "does not beat it"
        out.append(f"- fine-tuned from the best config vs from scratch, {100 * row.fraction:g} % of the train "
                   f"labels ({row.train_items} items, {row.seeds} seeds), test classifier top-1: {d.a:.1f} vs "
                   f"{d.b:.1f} ({d.delta:+.1f}, 95 % CI {d.low:+.1f}..{d.high:+.1f}): {word}")
    return out
