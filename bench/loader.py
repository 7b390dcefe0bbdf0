"""Loader-only throughput, no model: how many training samples/s the data side can deliver.

Two sources of the trainer's training batches (``ssl_core.data_pipeline.train_batches``), for
the ResNet-18 configuration's crops by default (batch 256, two 5 s crops per recording at
32 kHz, the input of a 128-mel front end):

* ``loader``: a DataLoader with ``--workers`` processes (default 1: what *one* worker
  delivers) reading crops from the decode cache, collating and handing them over;
* ``device``: the decoded split held in memory on ``--device`` (here the CPU) and cut by index,
  which is what a GPU run does on the GPU with no loader process at all.

After ``--warmup`` untimed batches (worker start-up, first page faults), ``--batches`` batches
are timed, ``--rounds`` times; samples/s is the median over rounds. ``--target`` (samples/s,
default 4033: the pure step of this configuration measured on an H200) turns the loader's rate
into the number of workers a GPU of that speed would need. Run from the repository root:

    SSL_SEARCH_CACHE=.cache/test-data python bench/loader.py [--workers 1] [--batches 8]

The first run decodes the data set at 32 kHz into the decode cache (about 20 s for birdsong).
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, package not installed

from ssl_core.config import load_config  # noqa: E402
from ssl_core.data import EpochSampler  # noqa: E402
from ssl_core.data_pipeline import load_and_split, train_batches  # noqa: E402

RESNET18_CROPS = ["data.sample_rate=32000", "data.crop_seconds=5", "data.crops_per_item=2"]


def rate(batches, batch: int, count: int, warmup: int, rounds: int) -> tuple[float, list[float]]:
    """Median samples/s over ``rounds`` blocks of ``count`` batches, after ``warmup`` untimed ones."""
    epoch, stream = 0, iter(batches.epoch(0))

    def next_batch() -> torch.Tensor:
        nonlocal epoch, stream
        while True:
            try:
                return next(stream)[0]
            except StopIteration:
                epoch += 1
                stream = iter(batches.epoch(epoch))

    for _ in range(warmup):
        next_batch()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            x = next_batch()
        float(x[0, 0, 0])  # the last batch is really there
        rates.append(batch * count / (time.perf_counter() - start))
    return statistics.median(rates), rates


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="birdsong", help="data.dataset")
    parser.add_argument("--batch", type=int, default=256, help="batch (data.batch_size)")
    parser.add_argument("--workers", type=int, default=1, help="loader processes of the loader arm")
    parser.add_argument("--batches", type=int, default=8, help="timed batches per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    parser.add_argument("--device", default="cpu", help="where the device arm holds the data")
    parser.add_argument("--target", type=float, default=4033.0, help="samples/s a GPU's pure step consumes")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                        help="more config overrides (default: the ResNet-18 configuration's crops)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the main process only hands batches over (loader) or copies (device)
    # train.epochs: the loader pass spans the run's epochs; enough of them for every timed batch.
    base = [f"data.dataset={args.data}", f"data.batch_size={args.batch}", "train.epochs=100000", *RESNET18_CROPS,
            *args.overrides]
    cfg = load_config(None, base + [f"data.num_workers={args.workers}"])
    index, splits = load_and_split(cfg)
    n_train = len(splits["train"])
    steps = n_train // args.batch
    if steps < 1:
        parser.error(f"--batch {args.batch} is larger than the train split ({n_train})")
    device = torch.device(args.device)
    print(f"{args.data}: {n_train} train recordings, batch {args.batch} x {cfg.data.crops_per_item} crops of "
          f"{cfg.data.crop_seconds:g} s at {cfg.data.sample_rate} Hz ({steps} batches per epoch)", flush=True)
    results: dict[str, float] = {}
    for placement in ("loader", "device"):
        run_cfg = load_config(None, base + [f"data.num_workers={args.workers}", f"data.placement={placement}",
                                            "data.device_data_gb=1000"])
        sampler = EpochSampler(n_train, seed=run_cfg.train.seed)
        batches = train_batches(run_cfg, index, splits["train"], sampler, args.batch, steps, device)
        try:
            median, rates = rate(batches, args.batch, args.batches, args.warmup, args.rounds)
        finally:
            batches.close()
        results[placement] = median
        what = f"{args.workers} loader worker(s)" if placement == "loader" else f"held on {device}, cut by index"
        print(f"{placement:<7} {what:<32} {median:10.1f} samples/s  (rounds: "
              f"{', '.join(f'{r:.0f}' for r in rates)})", flush=True)
    per_worker = results["loader"] / args.workers
    print(f"a GPU step consuming {args.target:g} samples/s needs {math.ceil(args.target / per_worker)} loader workers "
          f"at {per_worker:.0f} samples/s each; the device path cuts {results['device'] / args.target:.1f}x that "
          f"rate on {device} (main process, 1 thread)")
    return results


if __name__ == "__main__":
    main()
