"""Where the view maker's time goes: wall time per call and torch.profiler's table of ops.

Builds the trainer's audio view maker (``AudioViewMaker`` from the config, defaults unless
``--set``) and calls it on a random waveform batch ``[B, V, T]``: ``--repeats`` timed calls
after two untimed ones, then one call under ``torch.profiler`` (CPU, plus CUDA on a GPU).
Prints the median and best call time, the number of aten ops one call runs (on a GPU each
is at least one kernel launch; fewer launches is what a small batch needs), and the ops
that take the most time. Run from the repository root:

    python bench/views.py [--batch 64] [--crop-seconds 2] [--device cpu] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, package not installed

from ssl_core.augment import AudioViewMaker  # noqa: E402
from ssl_core.config import load_config  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--crops", type=int, default=2, help="V, distinct crops per recording")
    parser.add_argument("--crop-seconds", type=float, default=2.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rows", type=int, default=12, help="ops shown in the profile table")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(None, [f"data.crop_seconds={args.crop_seconds}", *args.overrides])
    device = torch.device(args.device)
    maker = AudioViewMaker(cfg.augment, cfg.frontend, cfg.data.sample_rate).to(device)
    samples = round(cfg.data.crop_seconds * cfg.data.sample_rate)
    torch.manual_seed(0)
    waves = 0.1 * torch.randn(args.batch, args.crops, samples, device=device)

    def call() -> None:
        maker(waves)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(2):
        call()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        call()
    averages = prof.key_averages()
    ops = sum(e.count for e in averages if e.key.startswith("aten::"))
    print(f"view maker on {device} ({torch.get_num_threads()} threads): waves [{args.batch}, {args.crops}, {samples}] "
          f"at {cfg.data.sample_rate} Hz, {cfg.frontend.n_mels} mels -> views")
    print(f"per call: median {statistics.median(times) * 1e3:.1f} ms, best {min(times) * 1e3:.1f} ms "
          f"({args.repeats} calls); {ops} aten ops per call (nested ones counted)")
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(averages.table(sort_by=sort, row_limit=args.rows))
    return {"median_s": statistics.median(times), "best_s": min(times), "ops": float(ops)}


if __name__ == "__main__":
    main()
