"""Every method at one stated budget, on the test split, against fixed features and supervised.

Trains each method with the trainer alone (no Ray, no search: ``python -m ssl_core.train``, the
defaults plus ``--set`` overrides), then scores the best checkpoint of each run on the test
split with the verdict's own parts (``ssl_core.verdict``): kNN top-1 with its 95 % interval over
test items, and the difference from fixed features (no training) and from the supervised run
of the same backbone, budget and seed, each with its 95 % interval (bootstrap over test items;
one seed, so seed noise is NOT in these intervals: the seed study in the README puts it at
about 3 points of val kNN). "beats" only when the whole interval is above zero.

    python bench/method_table.py --out runs/method-table          # 20 epochs, birdsong, seed 0
    python bench/method_table.py --out runs/mt --methods simclr byol --set data.windows_per_epoch=4

Runs already finished in ``--out`` (their last epoch's checkpoint) are scored again, not
retrained, and interrupted ones resume: a table can be finished after an interruption. Prints
a Markdown table and writes it, with the numbers as JSON, to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

METHODS = ("simclr", "supcon", "byol", "simsiam", "moco", "dino", "barlow", "vicreg", "supervised")
REFERENCE = "supervised"


def train_once(method: str, out: Path, data: str, epochs: int, overrides: list[str]) -> float | None:
    """Train ``method`` into ``out/<method>`` to ``epochs``; its wall seconds, None if not trained whole here.

    A run that already holds its last epoch's checkpoint is kept; an interrupted one (some
    checkpoints, not the last) resumes from its newest checkpoint rather than counting as done.
    """
    from ssl_core.run_layout import checkpoints_dir, epoch_checkpoint

    run_dir = out / method
    if epoch_checkpoint(run_dir, epochs).is_dir():
        return None
    resuming = any(checkpoints_dir(run_dir).glob("epoch_*"))
    command = [sys.executable, "-m", "ssl_core.train", "--method", method, "--data", data, "--epochs", str(epochs),
               "--output", str(run_dir), *[arg for o in overrides for arg in ("--set", o)],
               *(["--resume"] if resuming else [])]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, text=True, capture_output=True)
    log = out / f"{method}.log"
    log.write_text((log.read_text() if resuming and log.is_file() else "") + done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{method} failed (exit {done.returncode}); see {log}")
    return None if resuming else time.perf_counter() - started


def publish_table(out: Path, name: str, lines: list[str], record: dict) -> None:
    """Print a bench's Markdown table and write it (``<out>/<name>.md``) with its numbers (``<name>.json``)."""
    text = "\n".join(lines)
    print(text)
    (out / f"{name}.md").write_text(text + "\n")
    (out / f"{name}.json").write_text(json.dumps(record, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs, the table and its JSON")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--data", default="birdsong")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    from ssl_core.run import read_run_config as load_run_config
    from ssl_core.run_layout import best_checkpoint
    from ssl_core.verdict import decide, score_fixed_features, score_trained

    methods = list(dict.fromkeys([*args.methods, REFERENCE]))
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = {m: train_once(m, args.out, args.data, args.epochs, args.overrides) for m in methods}
    checkpoints = {m: best_checkpoint(args.out / m) for m in methods}
    arms = {m: score_trained([checkpoints[m]], m) for m in methods}
    fixed = score_fixed_features(checkpoints[REFERENCE])
    cfg = load_run_config(checkpoints[REFERENCE])
    log = (args.out / f"{REFERENCE}.log")
    budget = next((line.removeprefix("budget: ") for line in (log.read_text().splitlines() if log.is_file() else [])
                   if line.startswith("budget: ")), f"{args.epochs} epochs")
    rows = [f"budget: {budget}; data {args.data}; seed 0; test split, kNN top-1 (k={cfg.eval.knn_k}); 95 % CI over "
            "test items", "",
            f"| method | test kNN top-1 | 95 % CI | vs fixed features ({fixed.score(False):.1f}) | "
            f"vs supervised ({arms[REFERENCE].score(False):.1f}) | train wall s |", "|---|---|---|---|---|---|"]
    record = {"budget": budget, "data": args.data, "overrides": args.overrides, "methods": {}}
    for method in methods:
        arm = arms[method]
        verdict = decide(arm, [(fixed, False), (arms[REFERENCE], True)], "knn_top1")
        cells = []
        for comp in verdict.comparisons:
            d = comp.difference
            cells.append("-" if comp.against == method else
                         f"{d.delta:+.1f} ({d.low:+.1f}..{d.high:+.1f}) {comp.word.replace(' it', '')}")
        low, high = arm.interval(False)
        wall = "" if seconds[method] is None else f"{seconds[method]:.0f}"
        rows.append(f"| {method} | {arm.score(False):.1f} | {low:.1f}..{high:.1f} | {cells[0]} | {cells[1]} | {wall} |")
        record["methods"][method] = {"score": arm.score(False), "interval": [low, high], "train_seconds": seconds[method],
                                     **verdict.to_dict()}
    publish_table(args.out, "method_table", rows, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
