"""Two settings of one training run, timed side by side: is B's training step faster than A's?

For speed settings that should not change what is learnt (``train.channels_last``,
``train.precision``, ``train.compile``, ``data.num_workers`` ...). Each arm is the trainer's own
objects (``bench/pipeline.py``'s ``Bench``: data, model, optimiser and schedule built and seeded
as ``train`` builds them) under ``--a`` or ``--b`` overrides; after an untimed warm-up, each of
``--rounds`` rounds times ``--steps`` training steps (``train_step``: next batch, views,
forward, loss, backward, optimiser) of each arm, the order alternating between rounds (ABBA),
so the load of a shared machine falls on both arms alike. With ``--eval``, each round also
times one per-epoch evaluation (``Evaluator.run``) of each arm.

The verdict is on the per-round time ratio B / A: its geometric mean over rounds with a 95 %
t-interval of the mean log-ratio (a round's two blocks ran seconds apart, so the ratio is
paired). "faster" / "slower" only when the interval excludes 1. The first steps' losses of the
two arms are printed beside it: a setting that should leave the arithmetic alone gives the
same losses to float rounding, and a large gap says it changed what is computed.

    SSL_SEARCH_CACHE=.cache/test-data python bench/step_ab.py --a train.channels_last=off \\
        --b train.channels_last=on [--method simclr] [--rounds 8] [--steps 2] [--eval] [--out FILE.json]

Threads: as ``bench/pipeline.py`` (the CPUs left after loader workers, at least one; a search
trial on this 2-core machine has one core).
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/pipeline.py, also when imported by tests
from pipeline import DEFAULT_DATA, Bench, bench_config, default_threads, usable_cpus  # noqa: E402

ARMS = ("A", "B")


def ratio_interval(ratios: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Geometric mean of per-round ratios and its t-interval (on the log scale): ``(mean, low, high)``.

    One round gives no spread: its interval is ``(nan, nan)``.
    """
    logs = [math.log(r) for r in ratios]
    centre = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(centre), math.nan, math.nan
    half = stats.t.ppf(0.5 + confidence / 2, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)


def verdict(low: float, high: float) -> str:
    """What the interval of B / A time says: B faster, slower, or not separable from A."""
    if high < 1.0:
        return "B faster"
    if low > 1.0:
        return "B slower"
    return "not separable"


def measure(configs: dict[str, object], rounds: int, steps: int, warmup: int, with_eval: bool) -> dict:
    """ABBA rounds over both arms; seconds per block, per arm, and each arm's warm-up losses."""
    benches = {arm: Bench(cfg) for arm, cfg in configs.items()}
    evaluators = {}
    try:
        for bench in benches.values():
            # Each arm's warm-up draws the augmentations train(cfg) would draw first, so the two
            # arms' first losses are comparable (Bench reseeds as train does, but per arm).
            torch.manual_seed(bench.cfg.train.seed * 1000 + 1)
            bench.pipeline(max(warmup, 1))
        if with_eval:
            from ssl_core.eval_runner import Evaluator

            for arm, bench in benches.items():
                evaluators[arm] = Evaluator(bench.cfg, bench.data, bench.device)
                evaluators[arm].run(bench.method, epoch=1, final=False)  # builds its batches once, untimed
        result = {"train_s": {arm: [] for arm in ARMS}, "eval_s": {arm: [] for arm in ARMS},
                  "losses": {arm: list(b.losses) for arm, b in benches.items()}}
        for r in range(rounds):
            for arm in (ARMS if r % 2 == 0 else ARMS[::-1]):
                seconds, _ = benches[arm].pipeline(steps)
                result["train_s"][arm].append(seconds)
                if with_eval:
                    start = time.perf_counter()
                    evaluators[arm].run(benches[arm].method, epoch=2, final=False)
                    benches[arm].sync()
                    result["eval_s"][arm].append(time.perf_counter() - start)
        return result
    finally:
        for bench in benches.values():
            bench.close()
        benches.clear()
        gc.collect()


def summarise(result: dict, batch: int, steps: int) -> dict:
    """Medians, the B / A interval and verdict for training (and evaluation, when timed)."""
    out = {}
    for part in ("train_s", "eval_s"):
        a, b = result[part]["A"], result[part]["B"]
        if not a:
            continue
        mean, low, high = ratio_interval([y / x for x, y in zip(a, b)])
        out[part] = {"median_A": statistics.median(a), "median_B": statistics.median(b),
                     "ratio": mean, "low": low, "high": high, "verdict": verdict(low, high)}
        if part == "train_s":
            out[part]["samples_per_s_A"] = batch * steps / statistics.median(a)
            out[part]["samples_per_s_B"] = batch * steps / statistics.median(b)
    losses = result["losses"]
    out["first_losses"] = losses
    out["max_loss_gap"] = max(abs(x - y) for x, y in zip(losses["A"], losses["B"]))
    return out


def report_lines(summary: dict) -> list[str]:
    lines = []
    names = {"train_s": "training steps", "eval_s": "one evaluation"}
    for part, name in names.items():
        if part not in summary:
            continue
        s = summary[part]
        line = (f"{name}: A {s['median_A']:.3f} s, B {s['median_B']:.3f} s (medians); B / A time "
                f"{s['ratio']:.3f} (95 % CI {s['low']:.3f}..{s['high']:.3f}): {s['verdict']}")
        if part == "train_s":
            line += f"; {s['samples_per_s_A']:.2f} vs {s['samples_per_s_B']:.2f} samples/s"
        lines.append(line)
    lines.append(f"warm-up losses A {['%.6f' % v for v in summary['first_losses']['A']]}, "
                 f"B {['%.6f' % v for v in summary['first_losses']['B']]} (largest gap {summary['max_loss_gap']:.2e})")
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", nargs="+", required=True, metavar="KEY=VALUE", help="arm A's overrides")
    parser.add_argument("--b", nargs="+", required=True, metavar="KEY=VALUE", help="arm B's overrides")
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--rounds", type=int, default=8, help="ABBA rounds (at least 2 for an interval)")
    parser.add_argument("--steps", type=int, default=2, help="training steps per arm per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps per arm first (>= 1)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--crop-seconds", type=float, default=2.0)
    parser.add_argument("--backbone", default="resnet10t")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: CPUs minus loader workers, >= 1; 0: torch's default)")
    parser.add_argument("--eval", action="store_true", help="also time one evaluation per arm per round")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides for both arms")
    parser.add_argument("--out", type=Path, help="also write the measurements and summary as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be >= 1")
    both = [f"data.dataset={args.data}", *args.overrides]
    # Both configs are built (and so validated) before any data or model is.
    configs = {arm: bench_config(args.method, args.batch, args.crop_seconds, args.backbone, args.device,
                                 both + list(extra)) for arm, extra in zip(ARMS, (args.a, args.b))}
    threads = default_threads(configs["A"].data.num_workers) if args.threads is None else args.threads
    if threads:
        torch.set_num_threads(threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.method} on {args.data}, {args.backbone}, batch {args.batch}, {args.device}; A: {' '.join(args.a)}; "
          f"B: {' '.join(args.b)}; torch threads {torch.get_num_threads()} of {usable_cpus()} CPUs, load average "
          f"{load:.1f}; {args.rounds} ABBA rounds x {args.steps} steps per arm", flush=True)
    started = time.perf_counter()
    result = measure(configs, args.rounds, args.steps, args.warmup, args.eval)
    summary = summarise(result, args.batch, args.steps)
    for line in report_lines(summary):
        print(line)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"wall {time.perf_counter() - started:.0f} s, load average {load:.1f} at the end")
    record = {"method": args.method, "a": args.a, "b": args.b, "rounds": args.rounds, "steps": args.steps,
              "threads": torch.get_num_threads(), "measurements": result, "summary": summary}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1))
    return record


if __name__ == "__main__":
    main()
