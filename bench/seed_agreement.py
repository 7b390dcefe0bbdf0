"""Does the objective rank configurations, or the training seed? Two seeds of one temperature grid.

simclr_temp's base config is trained standalone (no Ray) at ``--grid`` log-spaced temperatures
for the space's epochs, once per training seed, and each evaluation's objective is recorded with
its 95 % bootstrap interval. If the objective measured the configuration, two seeds would rank
the temperatures alike: the Spearman rank correlation between the seeds' tables, per epoch, says
how far they do (scipy.stats.spearmanr). The interval's half-width says how noisy one value is.

    python bench/seed_agreement.py --tables A.json B.json            # compare two saved tables
    python bench/seed_agreement.py --build --seed 0 --set eval.queries=train+val --out T0.json
    python bench/seed_agreement.py --build --seed 0 --set eval.queries=train+val --out T0.json --keep runs0

On 2 quiet cores one table (12 temperatures x 6 epochs on birdsong) takes about 10 minutes.
The tables of bench/search_efficiency.py (val queries, seeds 0 and 1) have the same layout,
without intervals.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SPACE = "simclr_temp"
PARAM = "method.temperature"
# As bench/search_efficiency.py: no loader processes, no probe, clustering or augmented views
# (they cost time; knn_top1 is computed the same way without them).
SMALL_SCALE = ["data.num_workers=0", "eval.linear_probe=never", "eval.clustering=false",
               "eval.views_for_align=false", "eval.shortcut_windows=0", "train.progress=off"]


def build(grid: int, seed: int, dataset: str, extra: list[str], keep: Path | None = None) -> dict:
    """``curves[i][e]``: the objective after ``e`` epochs at ``temperatures[i]``; ``low``/``high`` its interval.

    ``keep``: keep each run's folder as ``keep/T<i>`` (its last two epochs' checkpoints), so other
    evaluation settings can be scored on the same networks (bench/eval_variants.py).
    """
    from search_spaces import load_space
    from ssl_core.config import load_config
    from ssl_core.trainer import train

    space = load_space(SPACE)
    dist = space.params[PARAM]
    temperatures = [float(f"{t:.6g}") for t in np.geomspace(dist.low, dist.high, grid)]
    base = [f"method.name={space.base['method']['name']}", f"data.dataset={dataset}"]
    overrides = base + SMALL_SCALE + [f"train.epochs={space.epochs}", f"train.seed={seed}"] + extra
    curves, lows, highs, queries, seconds = [], [], [], [], []
    for i, temperature in enumerate(temperatures):
        cfg = load_config(None, overrides + [f"{PARAM}={temperature!r}"])
        seen: dict[int, dict] = {}
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="seed-agreement-") as scratch:
            run_dir = str(keep / f"T{i:02d}") if keep is not None else scratch
            train(cfg, report=lambda m, _c: seen.__setitem__(int(m["epoch"]), dict(m)), run_dir=run_dir)
        seconds.append(round(time.perf_counter() - started, 1))
        epochs = sorted(seen)
        curves.append([round(seen[e][space.metric], 4) for e in epochs])
        lows.append([round(seen[e].get(f"{space.metric}_low", math.nan), 4) for e in epochs])
        highs.append([round(seen[e].get(f"{space.metric}_high", math.nan), 4) for e in epochs])
        queries.append(int(seen[epochs[-1]].get("knn_queries", 0)))
        print(f"  [{i + 1}/{grid}] T={temperature:.4f}: " + " ".join(f"{v:.2f}" for v in curves[-1])
              + f"  ({seconds[-1]:.0f} s)", flush=True)
    return {"space": SPACE, "param": PARAM, "metric": space.metric, "temperatures": temperatures,
            "epochs": space.epochs, "curves": curves, "value_low": lows, "value_high": highs, "queries": queries,
            "overrides": overrides, "seconds_per_run": seconds,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}",
            "built": time.strftime("%Y-%m-%d %H:%M:%S")}


def compare(a: dict, b: dict) -> list[str]:
    """Per epoch: Spearman's rho of the two tables' values over the temperatures, and the mean
    95 % interval half-width of each table's values (when recorded)."""
    if a["temperatures"] != b["temperatures"]:
        raise SystemExit("the tables were built on different temperature grids")
    lines = ["epoch  spearman  p-value  half-width A  half-width B"]
    for epoch in range(1, min(len(a["curves"][0]), len(b["curves"][0]))):
        x = [curve[epoch] for curve in a["curves"]]
        y = [curve[epoch] for curve in b["curves"]]
        rho, p = stats.spearmanr(x, y)
        widths = []
        for table in (a, b):
            if "value_low" in table:
                half = [(h[epoch] - l[epoch]) / 2 for l, h in zip(table["value_low"], table["value_high"])]
                widths.append(f"{np.nanmean(half):12.2f}")
            else:
                widths.append(f"{'-':>12}")
        lines.append(f"{epoch:5d}  {rho:8.2f}  {p:7.3f}  " + "  ".join(widths))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs=2, type=Path, help="compare two saved tables")
    parser.add_argument("--build", action="store_true", help="train one table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", type=int, default=12)
    parser.add_argument("--data", default="birdsong")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", type=Path, help="with --build: keep the runs' folders here (for eval_variants.py)")
    args = parser.parse_args()
    if args.build:
        if args.out is None:
            raise SystemExit("--build needs --out")
        table = build(args.grid, args.seed, args.data, args.extra, args.keep)
        args.out.write_text(json.dumps(table, indent=1) + "\n")
        print(f"table -> {args.out}")
    if args.tables:
        a, b = (json.loads(path.read_text()) for path in args.tables)
        print(f"{args.tables[0].name} vs {args.tables[1].name}: {len(a['temperatures'])} temperatures")
        print("\n".join(compare(a, b)))


if __name__ == "__main__":
    main()
