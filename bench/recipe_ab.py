"""Does a recipe value help? One method, two settings, the same training seeds: paired A/B.

Trains ``--method`` with setting A and with setting B (each ``--a``/``--b`` a ``KEY=VALUE``
override, repeatable), ``--seeds`` training seeds each, with the trainer alone (no Ray:
``python -m ssl_core.train``), then scores every run's best checkpoint the way the search and
its verdict do:

* **val**, the search's objective (kNN top-1; with ``eval.queries=train+val``, train + val
  leave-one-out): where a default is chosen;
* **test**, touched only to report: what the verdict would say, and each setting against the
  fixed features (no training) of its own front end and data settings.

B minus A carries a 95 % interval from the verdict's two-level bootstrap, paired by seed (run
``i`` of A and of B share their seed: the same initial weights, batches and crops where the
setting leaves them alone), so seed noise is in the interval. "B better" only when the whole
interval is above zero; the sign alone of a difference inside the noise is not a finding.

    python bench/recipe_ab.py --out runs/ab-moco-queue --method moco \\
        --a method.queue_size=4096 --b method.queue_size=512 --seeds 2 --epochs 6

The default ``--set``: the default search's data and evaluation settings (two windows per
recording an epoch, evaluation pooled over each recording's windows, train + val queries).
Finished runs in ``--out`` are scored again, not retrained. Prints a Markdown table and writes
it, with the numbers as JSON, to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling bench below

from method_table import METHODS, publish_table, train_once  # noqa: E402  (one way to train a run for a bench, resumable)

#: The default search's data and evaluation settings (search_spaces/simclr_temp.yaml).
DEFAULT_SETTINGS = ("data.windows_per_epoch=2", "data.eval_windows=mean", "eval.queries=train+val")


def run_folder(out: Path, arm: str, seed: int) -> Path:
    """Where arm ``arm`` ("a" or "b") with training seed ``seed`` trains (the method's folder is inside)."""
    return out / f"{arm}-seed{seed}"


def split_hits_of(checkpoint: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"val": (hits [N], labels [N]), "test": (...)}`` of one run's best checkpoint, loaded once."""
    from ssl_core.run import load_run
    from ssl_core.run_report import split_hits

    run = load_run(checkpoint)
    return {split: split_hits(run, split) for split in ("val", "test")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs, the table and its JSON")
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--a", action="append", required=True, metavar="KEY=VALUE", help="setting A (repeatable)")
    parser.add_argument("--b", action="append", required=True, metavar="KEY=VALUE", help="setting B (repeatable)")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per setting (>= 2 puts seed noise in)")
    parser.add_argument("--data", default="birdsong")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY=VALUE",
                        help=f"shared by both settings (default: {' '.join(DEFAULT_SETTINGS)})")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    shared = list(DEFAULT_SETTINGS) if args.overrides is None else args.overrides

    from ssl_core.eval.uncertainty import accuracy_interval, difference_interval
    from ssl_core.run_layout import best_checkpoint
    from ssl_core.verdict import score_fixed_features

    arms = {"a": args.a, "b": args.b}
    seconds: dict[str, list[float | None]] = {arm: [] for arm in arms}
    hits: dict[str, dict[str, list[np.ndarray]]] = {arm: {"val": [], "test": []} for arm in arms}
    labels: dict[str, np.ndarray] = {}
    last_checkpoint: dict[str, Path] = {}
    for seed in range(args.seeds):  # seed-major: an interruption leaves whole pairs behind
        for arm, setting in arms.items():
            folder = run_folder(args.out, arm, seed)
            folder.mkdir(parents=True, exist_ok=True)
            seconds[arm].append(train_once(args.method, folder, args.data, args.epochs,
                                           [*shared, f"train.seed={seed}", *setting]))
            checkpoint = last_checkpoint[arm] = best_checkpoint(folder / args.method)
            for split, (row, split_labels) in split_hits_of(checkpoint).items():
                hits[arm][split].append(row)
                labels[split] = split_labels
    # Each arm against the fixed features of its own front end and data settings: a setting such as
    # frontend.hop_length moves the per-band statistics too (by 2 of 69 test items at 10 vs 20 ms hops).
    fixed = {arm: score_fixed_features(checkpoint) for arm, checkpoint in last_checkpoint.items()}
    stacked = {arm: {split: np.stack(rows) for split, rows in by_split.items()} for arm, by_split in hits.items()}

    def pct(rows: np.ndarray) -> float:
        return 100.0 * float(rows.mean())

    lines = [f"{args.method}, {args.epochs} epochs, data {args.data}, {args.seeds} seed(s) per setting, shared: "
             f"{' '.join(shared) or '-'}; kNN top-1, 95 % CI over seeds and items (paired by seed)", "",
             "| setting | val kNN per seed | val mean | test kNN | fixed features (test) | test vs fixed features "
             "| train wall s |", "|---|---|---|---|---|---|---|"]
    record: dict = {"method": args.method, "epochs": args.epochs, "data": args.data, "seeds": args.seeds,
                    "shared": shared, "settings": {}}
    for arm, setting in arms.items():
        val, test = stacked[arm]["val"], stacked[arm]["test"]
        vs_fixed = difference_interval(test, fixed[arm].hits)
        walls = [s for s in seconds[arm] if s is not None]
        wall = f"{np.mean(walls):.0f}" if walls else ""
        lines.append(f"| {arm.upper()}: {' '.join(setting)} | {', '.join(f'{pct(r):.1f}' for r in val)} | "
                     f"{pct(val):.1f} | {pct(test):.1f} | {fixed[arm].score(False):.1f} | "
                     f"{vs_fixed.delta:+.1f} ({vs_fixed.low:+.1f}..{vs_fixed.high:+.1f}) "
                     f"{'beats' if vs_fixed.beats else 'does not beat'} | {wall} |")
        record["settings"][arm] = {"overrides": setting, "val_per_seed": [pct(r) for r in val], "val": pct(val),
                                   "val_interval": list(accuracy_interval(val.mean(axis=0))), "test": pct(test),
                                   "fixed_features_test": fixed[arm].score(False),
                                   "test_vs_fixed": [vs_fixed.delta, vs_fixed.low, vs_fixed.high],
                                   "train_seconds": seconds[arm]}
    lines.append("")
    for split in ("val", "test"):
        diff = difference_interval(stacked["b"][split], stacked["a"][split], paired_seeds=True)
        word = "B better" if diff.beats else "A better" if diff.loses else "not separable"
        lines.append(f"B - A on {split}: {diff.delta:+.1f} (95 % CI {diff.low:+.1f}..{diff.high:+.1f}): {word}"
                     + ("" if split == "val" else " (reported, not chosen on)"))
        record[f"b_minus_a_{split}"] = [diff.delta, diff.low, diff.high]
    publish_table(args.out, "recipe_ab", lines, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
