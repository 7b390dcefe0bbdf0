"""Trainer throughput per method: the full training pipeline against the model's pure step.

Per method, one model, optimiser and schedule (built as ``train`` builds them) serve two arms:

* ``pipeline``: what training runs per step. The next batch from the trainer's
  ``train_batches`` (the decoded split held on the device and cut by index, or
  ``data.num_workers`` loader processes reading crops from the decode cache, as
  ``data.placement`` decides), then :func:`ssl_core.trainer.train_step`: to the device,
  on-device log-mel front end and augmentation views, forward, loss, backward, optimiser and
  schedule step. Epochs roll over as in the trainer (``train_batches.epoch(e + 1)``), so a
  block that crosses an epoch start pays whatever that start costs.
* ``pure``: :func:`ssl_core.trainer.optimise_step` (the same forward .. schedule step code) on
  views made once from a real batch (two log-mel views ``[B, 1, n_mels, frames]``) and kept
  in memory: no loader, no front end, no augmentation.

``efficiency = pipeline samples/s / pure samples/s``; 1.0 means the data side costs nothing.

The machine may be shared and its load comes in bursts, so the arms run side by side: after a
warm-up (the first batch, worker start-up and first allocations: ``--warmup`` pipeline steps,
untimed), each of ``--rounds`` rounds times ``--steps`` pipeline steps and ``--steps`` pure
steps, the order alternating between rounds (ABBA), plus one view-maker call on the kept
batch. samples/s are medians over rounds; ``efficiency`` is the median over rounds of the
ratio within a round (its two blocks ran seconds apart), ``[min-max]`` its spread;
``data wait`` is the share of pipeline time spent blocked on ``next(loader)``; ``views`` the
share a view-maker call (front end + augmentations) takes of a pipeline step.

Defaults: every method in ``ssl_core.methods.METHODS``, resnet10t, global batch 64, 2 s crops
at 16 kHz, the embedded ``birdsong-x8`` draw (``--data``: 39 steps per epoch at batch 64, so
epoch starts weigh what they weigh in real training; birdsong itself has 4), ``data.placement``
auto (its decoded train split, 0.72 GB, is held in memory and cut by index: no loader
processes), ``data.num_workers`` as in the config (2), and torch threads in the main process
= the CPUs left after one per configured loader worker (counted even when the data is held on
the device, so the numbers compare with runs through the loader), at least 1
(``--threads 0``: torch's default, one per core, which is what ``train`` itself uses). On 2
cores that is 1 thread: on a shared 2-core machine two threads wait for each other at every
op whenever another process holds a core, which made a step 3-4x slower and the per-round
ratio spread from 0.5 to 1.3 (both arms; see the issue 7 report). Generate the data once (or
point at a cache that has it) and run from the repository root:

    SSL_SEARCH_CACHE=.cache/test-data python bench/pipeline.py [--methods simclr byol]
        [--rounds 8] [--steps 2] [--warmup 1] [--threads N] [--set data.num_workers=2 ...]

About 13 minutes with the defaults on 2 CPU cores at load average ~1, 18 at load average 4-7
(a step of resnet10t at batch 64 takes 2-3.5 s on one thread). Eight rounds, because a round's ratio scatters by
+-15 % on this shared machine (3 rounds gave medians of 0.80-0.97 for methods whose data side
costs 5 %; 8 rounds gave 0.95-0.98 for the same methods, matching ``1 - views - data wait``).
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ssl_core.config import Config, load_config
from ssl_core.data_pipeline import DataBundle, build_data
from ssl_core.methods import METHODS
from ssl_core.optim import build_optimizer, build_scheduler
from ssl_core.trainer import (build_model, make_views, optimise_step, resolve_device, train_step,
                              autocast_context, use_channels_last)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/flops.py, also when imported by tests
from flops import matmul_peak, step_flops  # noqa: E402

#: birdsong-x8: ~2500 train recordings, 39 steps per epoch at batch 64 (birdsong itself has 314:
#: at batch 256 every step began an epoch, which is not what a real data set's training sees)
DEFAULT_DATA = "birdsong-x8"
#: long enough that the warm-up + cosine schedule never ends inside a bench (lr stays sane)
BENCH_EPOCHS = 1000


@dataclass
class Rounds:
    """Per-round measurements of one method (seconds, one entry per round)."""

    batch: int
    pipeline_s: list[float] = field(default_factory=list)  # a block of `steps` pipeline steps
    pure_s: list[float] = field(default_factory=list)  # a block of `steps` pure steps
    wait_s: list[float] = field(default_factory=list)  # of pipeline_s: blocked on next(loader)
    views_s: list[float] = field(default_factory=list)  # one view-maker call
    steps: int = 1
    flops_per_step: int = 0  # model FLOPs of one optimiser step (0: not counted)
    steps_per_epoch: int = 1
    eval_s: float = float("nan")  # one per-epoch evaluation (Evaluator.run); nan: not measured

    def eval_share(self) -> float:
        """Evaluation's share of an epoch: eval / (eval + steps_per_epoch pipeline steps)."""
        train_s = self.steps_per_epoch * statistics.median(self.pipeline_s) / self.steps
        return self.eval_s / (self.eval_s + train_s)

    def pipeline_rate(self) -> float:
        return statistics.median(self.batch * self.steps / s for s in self.pipeline_s)

    def pure_rate(self) -> float:
        return statistics.median(self.batch * self.steps / s for s in self.pure_s)

    def ratios(self) -> list[float]:
        """Per-round efficiency: pure time over pipeline time for the same number of steps."""
        return [u / p for p, u in zip(self.pipeline_s, self.pure_s)]

    def efficiency(self) -> float:
        return statistics.median(self.ratios())

    def wait_share(self) -> float:
        return sum(self.wait_s) / sum(self.pipeline_s)

    def views_share(self) -> float:
        return statistics.median(self.views_s) / (statistics.median(self.pipeline_s) / self.steps)

    def pipeline_flops_per_s(self) -> float:
        """Model FLOP/s the full pipeline achieves (its steps/s times one step's FLOPs)."""
        return self.flops_per_step * self.pipeline_rate() / self.batch


class Bench:
    """The trainer's objects for one method, and the two arms as methods that time a block."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg)
        # Built and seeded as ``train`` does (rank 0 of 1), so the pipeline arm's first steps are
        # the first steps of ``train(cfg)``, loss for loss (tests/test_bench_pipeline.py).
        torch.manual_seed(cfg.train.seed)
        self.data: DataBundle = build_data(cfg, 0, 1, self.device)
        self.method = build_model(cfg, self.data, self.device)
        self.optimizer = build_optimizer(self.method, cfg.optim, cfg.data.batch_size)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, self.data.steps_per_epoch, cfg.train.epochs)
        self.total_steps = self.data.steps_per_epoch * cfg.train.epochs
        torch.manual_seed(cfg.train.seed * 1000 + 1)
        self.losses: list[float] = []  # the pipeline arm's, in order
        self.channels_last = use_channels_last(cfg, self.device)
        self.method.train()
        self.epoch, self.step_in_epoch = -1, 0
        self.batches = None
        self.kept: tuple[torch.Tensor, torch.Tensor] | None = None  # a loader batch (x, labels)
        self.views: list[torch.Tensor] = []  # its views, made once: the pure arm's input

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The trainer's loop: the next epoch's ``train_batches.epoch`` after ``steps_per_epoch`` batches."""
        if self.batches is None or self.step_in_epoch >= self.data.steps_per_epoch:
            self.epoch += 1
            self.step_in_epoch = 0
            self.batches = iter(self.data.train_batches.epoch(self.epoch))
        return next(self.batches)

    def pipeline(self, steps: int) -> tuple[float, float]:
        """``steps`` training steps from the loader: (total seconds, seconds waiting for batches)."""
        waited, start = 0.0, time.perf_counter()
        for _ in range(steps):
            before = time.perf_counter()
            x, labels = self._next_batch()
            waited += time.perf_counter() - before
            loss, _ = train_step(self.cfg, self.data, self.method, self.method, self.optimizer, self.scheduler,
                                 self.device, x, labels, epoch=self.epoch, step_in_epoch=self.step_in_epoch,
                                 total_steps=self.total_steps)
            self.losses.append(loss)
            self.step_in_epoch += 1
            if self.kept is None:
                self.kept = (x, labels)
                # On a forked RNG: the pipeline arm's augmentations stay the trainer's.
                cuda = [self.device] if self.device.type == "cuda" else []
                with torch.random.fork_rng(devices=cuda):
                    self.views = make_views(self.data, x.to(self.device), self.channels_last)
        self.sync()
        return time.perf_counter() - start, waited

    def pure(self, steps: int) -> float:
        """``steps`` optimiser steps on the kept views: seconds."""
        labels = self.kept[1].to(self.device)
        # The schedule's step: where the pipeline arm is (the pure arm does not advance it).
        global_step = self.epoch * self.data.steps_per_epoch + self.step_in_epoch
        start = time.perf_counter()
        for _ in range(steps):
            optimise_step(self.cfg, self.method, self.method, self.optimizer, self.scheduler, self.device,
                          self.views, labels, epoch=self.epoch, step_in_epoch=self.step_in_epoch,
                          global_step=global_step, total_steps=self.total_steps)
        self.sync()
        return time.perf_counter() - start

    def views_only(self) -> float:
        """One view-maker call (front end + augmentations) on the kept batch: seconds."""
        x = self.kept[0].to(self.device)
        start = time.perf_counter()
        make_views(self.data, x, self.channels_last)
        self.sync()
        return time.perf_counter() - start

    def evaluation(self) -> float:
        """Seconds of one per-epoch evaluation (``Evaluator.run``), after an untimed warm-up run."""
        from ssl_core.eval_runner import Evaluator

        evaluator = Evaluator(self.cfg, self.data, self.device)
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # the align views draw; the pipeline arm's stream stays
            evaluator.run(self.method, epoch=1, final=False)
            self.sync()
            start = time.perf_counter()
            evaluator.run(self.method, epoch=2, final=False)
            self.sync()
            return time.perf_counter() - start

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        # Persistent loader workers live as long as the loader's iterator: end them now,
        # so they do not share the cores with the next method's measurement.
        self.batches = None
        self.data.train_batches.close()


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads(num_workers: int) -> int:
    """One CPU per loader worker, the rest to torch in the main process (at least one thread)."""
    return max(1, usable_cpus() - num_workers)


def bench_config(method: str, batch: int, crop_seconds: float, backbone: str, device: str,
                 overrides: list[str]) -> Config:
    """The trainer's config for ``method`` (``load_config(None, overrides)``), bench settings first."""
    return load_config(None, [f"method.name={method}", f"data.batch_size={batch}",
                              f"data.crop_seconds={crop_seconds}", f"model.backbone={backbone}",
                              f"train.device={device}", f"train.epochs={BENCH_EPOCHS}", "train.progress=off",
                              *overrides])


def measure(cfg: Config, rounds: int, steps: int, warmup: int, count_flops: bool = False,
            eval_share: bool = False) -> Rounds:
    """Warm up, then ``rounds`` ABBA rounds of ``steps`` pipeline and ``steps`` pure steps;
    with ``count_flops``, then one more (untimed) pure step under a FLOP counter; with
    ``eval_share``, then the trainer's per-epoch evaluation, timed after an untimed one (the
    first builds the evaluation loaders' worker processes, which a run pays once)."""
    bench = Bench(cfg)
    try:
        bench.pipeline(max(warmup, 1))  # also keeps the batch whose views the pure arm uses
        result = Rounds(batch=cfg.data.batch_size, steps=steps, steps_per_epoch=bench.data.steps_per_epoch)
        for r in range(rounds):
            order = ("pipeline", "pure") if r % 2 == 0 else ("pure", "pipeline")
            for arm in order:
                if arm == "pipeline":
                    seconds, waited = bench.pipeline(steps)
                    result.pipeline_s.append(seconds)
                    result.wait_s.append(waited)
                else:
                    result.pure_s.append(bench.pure(steps))
            result.views_s.append(bench.views_only())
        if count_flops:
            result.flops_per_step = step_flops(lambda: bench.pure(1))
        if eval_share:
            result.eval_s = bench.evaluation()
        return result
    finally:
        bench.close()
        del bench
        gc.collect()


def format_table(rows: list[tuple[str, Rounds]], peak_flops: float = 0.0) -> str:
    """The table; with ``peak_flops`` (FLOP/s), three more columns: GFLOP per step, the full
    pipeline's MFU and the pure step's; an ``eval share`` column when evaluation was timed."""
    header = (f"{'method':<10} | {'pipeline samples/s':>18} | {'pure samples/s':>14} | {'efficiency':>10} | "
              f"{'[min-max]':>11} | {'data wait':>9} | {'views':>6}")
    if peak_flops:
        header += f" | {'GFLOP/step':>10} | {'MFU':>6} | {'pure MFU':>8}"
    timed_eval = any(r.eval_s == r.eval_s for _, r in rows)  # nan != nan: not measured
    if timed_eval:
        header += f" | {'eval share':>10}"
    lines = [header, "-" * len(header)]
    for name, r in rows:
        ratios = r.ratios()
        line = (f"{name:<10} | {r.pipeline_rate():>18.2f} | {r.pure_rate():>14.2f} | {r.efficiency():>10.3f} | "
                f"{min(ratios):>5.2f}-{max(ratios):<5.2f} | {r.wait_share():>8.1%} | {r.views_share():>5.1%}")
        if peak_flops:
            pure_flops = r.flops_per_step * r.pure_rate() / r.batch
            line += (f" | {r.flops_per_step / 1e9:>10.1f} | {r.pipeline_flops_per_s() / peak_flops:>5.1%}"
                     f" | {pure_flops / peak_flops:>7.1%}")
        if timed_eval:
            line += f" | {r.eval_share():>9.1%}"
        lines.append(line)
    return "\n".join(lines)


def compute_dtype(cfg: Config, device: torch.device) -> torch.dtype:
    """The dtype the step's matmuls run in: bfloat16 under the trainer's autocast, else float32."""
    with autocast_context(cfg, device):
        return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else torch.float32


def main(argv: list[str] | None = None) -> list[tuple[str, Rounds]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD",
                        help=f"methods to measure (default: all of {', '.join(METHODS)})")
    parser.add_argument("--rounds", type=int, default=8, help="ABBA rounds per method (medians over them)")
    parser.add_argument("--steps", type=int, default=2, help="steps per arm per round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed pipeline steps first (at least 1)")
    parser.add_argument("--batch", type=int, default=64, help="global batch (data.batch_size)")
    parser.add_argument("--crop-seconds", type=float, default=2.0, help="data.crop_seconds")
    parser.add_argument("--backbone", default="resnet10t", help="model.backbone (a timm name)")
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="data.dataset (default: a draw with >= 20 steps per epoch at batch 64)")
    parser.add_argument("--eval-share", action="store_true",
                        help="also time one per-epoch evaluation and report its share of an epoch")
    parser.add_argument("--device", default="cpu", help="train.device: cpu, cuda, auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads in the main process (default: CPUs minus loader workers, >= 1; "
                             "0: torch's default, as train runs)")
    parser.add_argument("--mfu", action="store_true",
                        help="also count each step's model FLOPs and report MFU against this device's measured "
                             "matmul peak (bench/flops.py)")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                        help="more config overrides, e.g. data.num_workers=0 augment.spec_crop_p=0.5")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be >= 1")
    overrides = [f"data.dataset={args.data}", *args.overrides]
    first = bench_config(args.methods[0], args.batch, args.crop_seconds, args.backbone, args.device, overrides)
    threads = default_threads(first.data.num_workers) if args.threads is None else args.threads
    if threads:
        torch.set_num_threads(threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    frames = round(first.data.crop_seconds * first.data.sample_rate) // first.frontend.hop_length + 1
    print(f"{first.data.dataset}: batch {first.data.batch_size}, {first.data.crop_seconds:g} s crops at "
          f"{first.data.sample_rate} Hz -> views [{first.data.batch_size}, 1, {first.frontend.n_mels}, {frames}], "
          f"{first.model.backbone} on {first.train.device}; data.placement {first.data.placement} (if a loader: "
          f"loader workers {first.data.num_workers}), torch threads "
          f"{torch.get_num_threads()}, {usable_cpus()} CPUs, load average {load:.1f}; {args.rounds} rounds x "
          f"{args.steps} steps per arm, {max(args.warmup, 1)} warm-up", flush=True)
    rows: list[tuple[str, Rounds]] = []
    started = time.perf_counter()
    for name in args.methods:
        cfg = bench_config(name, args.batch, args.crop_seconds, args.backbone, args.device, overrides)
        t0 = time.perf_counter()
        rows.append((name, measure(cfg, args.rounds, args.steps, args.warmup, count_flops=args.mfu,
                                   eval_share=args.eval_share)))
        print(f"  {name}: {time.perf_counter() - t0:.0f} s ({rows[-1][1].steps_per_epoch} steps per epoch)",
              flush=True)
    peak = 0.0
    if args.mfu:
        device = resolve_device(first)
        dtype = compute_dtype(first, device)
        peak = matmul_peak(device, dtype)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} torch threads)"
        print(f"measured {str(dtype).removeprefix('torch.')} matmul peak on {name}: {peak / 1e12:.4g} TFLOP/s "
              f"(MFU = pipeline steps/s x GFLOP/step / this)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(format_table(rows, peak))
    print(f"wall {time.perf_counter() - started:.0f} s, load average {load:.1f} at the end")
    return rows


if __name__ == "__main__":
    main()
