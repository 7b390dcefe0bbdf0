"""Ray overhead: one trial through launch.py (Ray Tune + Ray Train) against the same training
run standalone (``python -m ssl_core.train``), same config, same machine, run one after the
other (repeat with --repeats; medians printed).

Rows:

* ``standalone``: wall time of ``python -m ssl_core.train`` (imports, data, training, evaluations)
* ``trial``: Tune's ``time_total_s`` of the trial: data, training, evaluations, reports (and,
  for a DDP trial, Ray Train's start, worker group and gloo), the number a search pays per
  trial. It starts once the trial's process is up and has loaded the trainable (a few
  seconds of imports the standalone run pays inside its wall time); ``launch.py`` bounds it
* ``launch.py``: the whole search process: Ray start, the trial, and the results (test-split
  evaluation of the best trial, figures, exported backbone)

Overhead = trial / standalone - 1; the target is at most 10 % for a 5-minute trial.

Both arms get the same CPUs (``--cpus``, default all of them): the trial (one worker: it trains in
the Tune trial's own process) is given that many through ``launch.py --cpus-per-trial`` and
the standalone run gets ``OMP_NUM_THREADS`` set to the same number, so both train with the
same torch thread count (torch's own default, one per core, would differ from Ray's).

    python bench/ray_overhead.py                 # simclr_temp's config, 32 epochs: ~5 min per arm on 2 quiet cores
    python bench/ray_overhead.py --epochs 2      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _space_file(folder: Path, base: dict, epochs: int, temperature: float) -> Path:
    """simclr_temp's base config with one fixed temperature: a one-trial search."""
    space = {"description": "bench: one trial", "base": base,
             "params": {"method.temperature": {"choice": [temperature]}},
             "objective": {"metric": "knn_top1", "mode": "max"},
             "budget": {"trials": 1, "epochs": epochs, "max_concurrent": 1}, "scheduler": {"name": "none"}}
    path = folder / "space.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def _standalone_args(base: dict, epochs: int, temperature: float, output: Path) -> list[str]:
    sets = [f"{section}.{key}={value}" for section, values in base.items() for key, value in values.items()]
    sets += [f"method.temperature={temperature}", f"train.epochs={epochs}"]
    return [sys.executable, "-m", "ssl_core.train", "--output", str(output),
            *[arg for item in sets for arg in ("--set", item)]]


def _timed(args: list[str], threads: int) -> tuple[float, str]:
    started = time.perf_counter()
    env = os.environ | {"OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs (torch threads) for both arms")
    args = parser.parse_args()
    base = yaml.safe_load((REPO / "search_spaces" / "simclr_temp.yaml").read_text())["base"]
    base.setdefault("train", {})["progress"] = "off"
    rows: dict[str, list[float]] = {"standalone": [], "trial": [], "launch.py": []}
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as tmp:
        folder = Path(tmp)
        space = _space_file(folder, base, args.epochs, args.temperature)
        # Untimed warm-up: generates the embedded data and its decode cache if missing, so
        # neither arm pays for them.
        _timed([sys.executable, "launch.py", "--space", str(space), "--storage", str(folder / "runs"), "--dry-run"], args.cpus)
        _timed(_standalone_args(base, 1, args.temperature, folder / "warmup") + ["--set", "train.max_steps_per_epoch=1"], args.cpus)
        for repeat in range(args.repeats):
            wall, _ = _timed(_standalone_args(base, args.epochs, args.temperature, folder / f"standalone{repeat}"),
                             args.cpus)
            rows["standalone"].append(wall)
            name = f"trial{repeat}"
            wall, _ = _timed([sys.executable, "launch.py", "--space", str(space), "--storage", str(folder / "runs"),
                              "--name", name, "--concurrent", "1", "--cpus-per-trial", str(args.cpus)], args.cpus)
            rows["launch.py"].append(wall)
            (trial_dir,) = (folder / "runs" / name).glob("run_trial_*")
            last = json.loads((trial_dir / "result.json").read_text().splitlines()[-1])
            rows["trial"].append(float(last["time_total_s"]))
            print(f"repeat {repeat}: standalone {rows['standalone'][-1]:.1f} s, trial {rows['trial'][-1]:.1f} s, "
                  f"launch.py {rows['launch.py'][-1]:.1f} s", flush=True)
    reference = statistics.median(rows["standalone"])
    print(f"\nsimclr_temp config, {args.epochs} epochs, temperature {args.temperature}, "
          f"{args.cpus} CPUs (torch threads) for both arms, median of {args.repeats}")
    print(f"{'arm':12s} {'seconds':>9s} {'vs standalone':>14s}")
    for arm, values in rows.items():
        value = statistics.median(values)
        print(f"{arm:12s} {value:9.1f} {value / reference - 1:+13.1%}")
    overhead = statistics.median(rows["trial"]) - reference
    print(f"\nRay overhead per trial: {overhead:+.1f} s = {overhead / reference:+.1%} of the standalone run "
          f"(target <= 10 % of a 5-minute trial)")


if __name__ == "__main__":
    main()
