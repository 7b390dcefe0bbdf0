"""Which evaluation settings make the objective less noisy? The same networks, scored several ways.

Evaluation settings (``data.eval_windows``, ``eval.knn_k``, ...) change no weights, so they can
be compared on the same trained networks: the runs kept by ``bench/seed_agreement.py --build
--keep DIR`` (one folder per temperature, one build per training seed). Each variant rescores
every run's checkpoint after ``--epoch`` epochs on val (its queries as the run's config says) and
reports, over the grid:

* the 95 % interval's mean half-width (bootstrap over query items: the noise of one value);
* the Spearman rank correlation between the two seeds' values (do they rank the temperatures
  alike?);
* the seed noise, the standard deviation of a run's value between seeds (``|a - b| / sqrt 2``,
  averaged over the grid), against the spread of the seed-averaged values over the grid.

    python bench/eval_variants.py --runs runs0 runs1 --variant centre: \\
        --variant mean:data.eval_windows=mean --variant k10:eval.knn_k=10 --out variants.json

Each rescoring is one evaluation (seconds on 2 CPU cores for birdsong).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``name:key=value,key=value`` -> ``(name, ["key=value", ...])``; ``name:`` is the runs' own settings."""
    name, _, rest = text.partition(":")
    if not name:
        raise SystemExit(f"--variant {text!r}: expected NAME:KEY=VALUE[,KEY=VALUE], e.g. mean:data.eval_windows=mean")
    return name, [item for item in rest.split(",") if item]


def score(run_dir: Path, epoch: int, overrides: list[str]) -> tuple[float, float, float]:
    """``(knn_top1, low, high)`` of ``run_dir``'s checkpoint after ``epoch`` epochs, evaluated with ``overrides``."""
    from ssl_core.eval_runner import Evaluator
    from ssl_core.run import load_run
    from ssl_core.run_layout import epoch_checkpoint

    run = load_run(epoch_checkpoint(run_dir, epoch), device="cpu", overrides=overrides)
    metrics = Evaluator(run.cfg, run.data, run.device).run(run.method, epoch=run.epoch, final=False)
    return metrics["knn_top1"], metrics["knn_top1_low"], metrics["knn_top1_high"]


def summarise(values: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> dict[str, float]:
    """``values``/``lows``/``highs``: ``[2 seeds, G grid points]``."""
    rho, p = stats.spearmanr(values[0], values[1])
    seed_sd = float(np.mean(np.abs(values[0] - values[1])) / math.sqrt(2))
    return {"half_width": float(np.mean(highs - lows) / 2), "spearman": float(rho), "p_value": float(p),
            "seed_sd": seed_sd, "grid_sd": float(np.std(values.mean(axis=0), ddof=1)),
            "mean": float(values.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs=2, type=Path, required=True, help="the --keep folders of two seeds")
    parser.add_argument("--variant", action="append", required=True, metavar="NAME:KEY=VALUE,...")
    parser.add_argument("--epoch", type=int, default=6)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    grids = [sorted(path for path in folder.iterdir() if path.is_dir()) for folder in args.runs]
    if [p.name for p in grids[0]] != [p.name for p in grids[1]] or not grids[0]:
        raise SystemExit(f"{args.runs[0]} and {args.runs[1]} must hold the same run folders (T00, T01, ...)")
    report: dict[str, dict] = {}
    print(f"{len(grids[0])} runs per seed, epoch {args.epoch}")
    print("variant          half-width  spearman  p-value  seed sd  grid sd   mean   seconds")
    for text in args.variant:
        name, overrides = parse_variant(text)
        started = time.perf_counter()
        table = np.array([[score(run, args.epoch, overrides) for run in grid] for grid in grids])  # [2, G, 3]
        row = summarise(table[..., 0], table[..., 1], table[..., 2])
        row.update(overrides=overrides, values=table[..., 0].round(4).tolist(),
                   seconds=round(time.perf_counter() - started, 1))
        report[name] = row
        print(f"{name:15s}  {row['half_width']:10.2f}  {row['spearman']:8.2f}  {row['p_value']:7.3f}  "
              f"{row['seed_sd']:7.2f}  {row['grid_sd']:7.2f}  {row['mean']:5.1f}  {row['seconds']:7.0f}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"runs": [str(p) for p in args.runs], "epoch": args.epoch,
                                        "variants": report}, indent=1) + "\n")
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
