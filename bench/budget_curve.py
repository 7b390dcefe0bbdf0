"""How many optimiser steps a method needs to beat features that need no training, on any device.

Trains one method once with the trainer alone (no Ray, no search: ``python -m ssl_core.train``),
keeping a checkpoint every ``--every`` epochs, then scores each checkpoint on the test split the
way the search's verdict does (``ssl_core.verdict``: kNN top-1 with its 95 % interval over test
items) against two references computed from the same data:

* **fixed features**: kNN on per-band log-mel mean and std of each whole recording, z-scored
  (the verdict's floor); "beats" only when the whole interval of the difference is above zero;
* **logistic regression** on the same fixed features, trained with the train split's labels
  (scikit-learn): what a linear classifier gets from them, the level to approach.

Evaluation is pooled over windows spanning each recording (``data.eval_windows=mean``, the
default search's setting), as the fixed features see the whole recording. Each row gives the
epoch, the optimiser steps and samples seen so far, and the wall seconds from the start of
training to that checkpoint (evaluations included), so the same table answers "how many
steps" (device-independent) and "how long on this device". One seed: seed noise (about 3
points of val kNN on birdsong) is not in the intervals.

    python bench/budget_curve.py --out runs/budget-simclr                    # simclr, 20 epochs, 2 windows
    python bench/budget_curve.py --out runs/bc --epochs 40 --every 4 --set data.windows_per_epoch=4

A finished run in ``--out`` is scored again, not retrained. Prints a Markdown table and writes
it, with the numbers as JSON, to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benches below

from method_table import publish_table, train_once  # noqa: E402  (one way to train a run for a bench, resumable)
from supervised_floor import score as floor_scores  # noqa: E402  (logistic regression and kNN on features)

#: What the table measures by default: the default search's data settings.
DEFAULT_SETTINGS = ("data.windows_per_epoch=2", "data.eval_windows=mean")


def epoch_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """``[(epoch, checkpoint)]`` of every periodic checkpoint of a run, in epoch order."""
    from ssl_core.run_layout import checkpoints_dir

    found = [(int(path.name.removeprefix("epoch_")), path) for path in checkpoints_dir(run_dir).glob("epoch_*")]
    return sorted(found)


def logistic_regression_reference(run) -> tuple[float, float, float]:
    """Test accuracy (percent) and 95 % interval of logistic regression on the fixed features of
    ``run``'s data (a :class:`ssl_core.run.LoadedRun`; its weights play no part)."""
    from ssl_core.baselines import fixed_feature_embeddings

    bank, queries = fixed_feature_embeddings(run, "test")
    scores = floor_scores(bank.features.cpu().numpy(), bank.labels.cpu().numpy(), queries.features.cpu().numpy(),
                          queries.labels.cpu().numpy(), run.cfg, run.data.num_classes)
    return scores["logistic regression"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the run, the table and its JSON")
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--data", default="birdsong")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--every", type=int, default=2, help="a checkpoint (and a row) every N epochs")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"config overrides after the defaults {', '.join(DEFAULT_SETTINGS)}")
    args = parser.parse_args()
    if args.every < 1 or args.epochs < 1:
        parser.error("--epochs and --every must be at least 1")

    from ssl_core.budget import steps_per_epoch
    from ssl_core.run import load_run
    from ssl_core.verdict import decide, score_fixed_features, score_runs, score_trained

    overrides = [*DEFAULT_SETTINGS, f"eval.every_epochs={args.every}", "train.keep_checkpoints=100000",
                 "eval.linear_probe=never", *args.overrides]
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    trained_here = train_once(args.method, args.out, args.data, args.epochs, overrides) is not None
    run_dir = args.out / args.method
    checkpoints = epoch_checkpoints(run_dir)
    first = checkpoints[0][1]
    run = load_run(first, trained=False)
    steps = steps_per_epoch(run.cfg, len(run.data.splits["train"]))
    fixed = score_fixed_features(first)
    regression, low_lr, high_lr = logistic_regression_reference(run)
    # The first checkpoint and its untrained network in one pass; the later checkpoints after it.
    first_trained, untrained = score_runs([first], f"epoch {checkpoints[0][0]}")
    arms = [(0, untrained, None)]
    for index, (epoch, checkpoint) in enumerate(checkpoints):
        wall = checkpoint.stat().st_mtime - started if trained_here else None
        arms.append((epoch, first_trained if index == 0 else score_trained([checkpoint], f"epoch {epoch}"), wall))

    rows = [f"{args.method} on {args.data}, {steps} optimiser steps of {run.cfg.data.batch_size} an epoch "
            f"(data.windows_per_epoch={run.cfg.data.windows_per_epoch}), evaluation data.eval_windows="
            f"{run.cfg.data.eval_windows}, device {run.device}; test split, kNN top-1 "
            f"(k={run.cfg.eval.knn_k}), 95 % CI over {len(fixed.labels)} test items, one seed",
            f"fixed features, kNN: {fixed.score(False):.1f}; logistic regression on them: {regression:.1f} "
            f"({low_lr:.1f}..{high_lr:.1f})", "",
            f"| epoch | steps | samples | wall s | test kNN top-1 | 95 % CI | vs fixed features ({fixed.score(False):.1f}) "
            f"| vs logistic regression ({regression:.1f}) |", "|---|---|---|---|---|---|---|---|"]
    record = {"method": args.method, "data": args.data, "overrides": overrides, "steps_per_epoch": steps,
              "batch": run.cfg.data.batch_size, "fixed_features": fixed.score(False),
              "logistic_regression": [regression, low_lr, high_lr], "rows": []}
    for epoch, arm, wall in arms:
        comparison = decide(arm, [(fixed, False)], "knn_top1").comparisons[0]
        d, (low, high) = comparison.difference, arm.interval(False)
        score = arm.score(False)
        rows.append(f"| {epoch} | {epoch * steps} | {epoch * steps * run.cfg.data.batch_size:,} | "
                    f"{'' if wall is None else f'{wall:.0f}'} | {score:.1f} | {low:.1f}..{high:.1f} | "
                    f"{d.delta:+.1f} ({d.low:+.1f}..{d.high:+.1f}) {comparison.word.replace(' it', '')} | "
                    f"{score - regression:+.1f} |")
        record["rows"].append({"epoch": epoch, "steps": epoch * steps, "wall_seconds": wall, "score": score,
                               "interval": [low, high], "vs_fixed": [d.delta, d.low, d.high],
                               "beats_fixed": bool(d.low > 0), "hits": np.asarray(arm.hits[0]).tolist()})
    publish_table(args.out, "budget_curve", rows, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
