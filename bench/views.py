"""Where the view maker's time goes: wall time per call and torch.profiler's table of ops.

Builds the trainer's audio view maker (``AudioViewMaker`` from the config, defaults unless
``--set``) and calls it on a random waveform batch ``[B, V, T]``: ``--repeats`` timed calls
after two untimed ones, then one call under ``torch.profiler`` (CPU, plus CUDA on a GPU).
Prints the median and best call time, the number of aten ops one call runs (on a GPU each
is at least one kernel launch; fewer launches is what a small batch needs), and the ops
that take the most time. ``--compile`` also times ``torch.compile`` of the whole view maker
(the first call, which compiles, then per call) against the eager calls, and compares the
views from one seed: random draws stay torch's own (inductor's ``fallback_random``), so the
same seed gives the same augmentation parameters and only the fused arithmetic's rounding may
differ. On the 2 shared CPU cores here (``bench/results/views_compile_cpu.txt``) it did not
pay: at batch 8 the first call compiled in 30 s, then each call took 338 ms against 18 ms
eager, and the views differed by up to 6.8 (not rounding: some augmentation drew other
parameters than eager); so the trainer does not compile its view maker, and this option is
the GPU's measurement of whether it pays there. Run from the repository root:

    python bench/views.py [--batch 64] [--crop-seconds 2] [--device cpu] [--threads 1] [--compile]
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
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the view maker")
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
    result = {"median_s": statistics.median(times), "best_s": min(times), "ops": float(ops)}
    if args.compile:
        result |= compiled_against_eager(maker, waves, args.repeats, call_eager=call)
    return result


def compiled_against_eager(maker: AudioViewMaker, waves: torch.Tensor, repeats: int, call_eager) -> dict[str, float]:
    """Time ``torch.compile(maker)`` (first call, then median per call) and compare its views
    with the eager ones from the same seed; prints one line."""
    import torch._inductor.config as inductor_config

    inductor_config.fallback_random = True  # torch's RNG for every draw: the eager parameters
    compiled = torch.compile(maker)

    def call() -> list[torch.Tensor]:
        views = compiled(waves)
        if waves.device.type == "cuda":
            torch.cuda.synchronize(waves.device)
        return views

    torch.manual_seed(1)
    start = time.perf_counter()
    views = call()
    first = time.perf_counter() - start
    torch.manual_seed(1)
    eager = maker(waves)
    diff = max(float((a - b).abs().max()) for a, b in zip(views, eager))
    equal = all(torch.equal(a, b) for a, b in zip(views, eager))
    compiled_times, eager_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        compiled_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        call_eager()
        eager_times.append(time.perf_counter() - start)
    c, e = statistics.median(compiled_times), statistics.median(eager_times)
    print(f"torch.compile: first call (compiles) {first:.1f} s; per call median {c * 1e3:.1f} ms compiled vs "
          f"{e * 1e3:.1f} ms eager ({e / c:.2f}x); views from one seed {'equal' if equal else 'differ'} "
          f"(max |compiled - eager| {diff:.2e})")
    return {"compiled_median_s": c, "eager_median_s": e, "compile_s": first, "max_abs_diff": diff}


if __name__ == "__main__":
    main()
