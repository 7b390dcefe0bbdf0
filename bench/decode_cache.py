"""Decode-per-epoch vs the on-disk decode cache, over the embedded birdsong dataset.

Each epoch of training asks for ``--crops`` random crops of every recording. Without a cache
every request decodes the OGG (and resamples it when the target rate differs); with
:class:`~ssl_core.data.decode_cache.DecodeCache` it memory-maps the cached float16 waveform
and slices the crops. Rows:

* ``decode``: ``AudioCropDataset(cache_decoded=False)``, a full soundfile decode (+ resample) per item
* ``prepare``: the one-off first pass that decodes and writes the cache
* ``cached crops``: ``AudioCropDataset(cache=...)``, the same crops from the memory-mapped cache
* ``cached full read``: ``DecodeCache.load`` + reading every sample as float32

"audio s/s" is seconds of *recorded* audio served per wall-clock second (for the crop rows:
the recordings whose crops were served). Repeated passes read from the page cache, as later
epochs on a machine with enough memory do.

    python bench/decode_cache.py [--sample-rates 16000 8000] [--passes 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ssl_core.data import load_dataset
from ssl_core.data.audio_dataset import AudioCropDataset
from ssl_core.data.decode_cache import DecodeCache
from ssl_core.data.embedded import embedded_path


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample-rates", type=int, nargs="+", default=[16000, 8000],
                        help="target rates; birdsong is stored at 16 kHz: 16000 only decodes, 8000 also resamples "
                             "2:1 (as BirdCLEF's 32 kHz to 16 kHz); 22050 shows an awkward 320:441 ratio")
    parser.add_argument("--passes", type=int, default=2, help="epochs per row")
    parser.add_argument("--crop-seconds", type=float, default=2.0)
    parser.add_argument("--crops", type=int, default=2, help="crops per recording per epoch (views)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N recordings (0: all)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where to build the cache (default: a temp dir, removed)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for resampling (1: as in DataLoader workers, which set 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    root = embedded_path("birdsong")
    index = load_dataset("birdsong")
    items = index.items[: args.limit] if args.limit else index.items
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"birdsong: {len(items)} recordings from {root}; torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    cache_dir = args.cache_dir or Path(tempfile.mkdtemp(prefix="decode-cache-bench-"))

    header = (f"{'rate':>6} | {'row':<18} | {'pass':>4} | {'seconds':>8} | {'recordings/s':>12} | "
              f"{'audio s/s':>10} | {'x decode':>8}")
    rows = [header, "-" * len(header)]
    try:
        for rate in args.sample_rates:
            cache = DecodeCache(cache_dir, rate)
            decoder = AudioCropDataset(items, rate, args.crop_seconds, num_crops=args.crops, cache_decoded=False)

            def decode_epoch(epoch: int) -> None:
                for i in range(len(items)):
                    decoder[(i, epoch * 100003 + i)]

            decode_times = [timed(lambda e=e: decode_epoch(e)) for e in range(args.passes)]
            prepare_time = timed(lambda: cache.prepare(items))
            probe = DecodeCache(cache_dir, rate)  # its own object, so the timed readers start with no open maps
            seconds_of_audio = sum(probe.load(item).shape[0] for item in items) / rate
            # A fresh object, as a later epoch's loader worker or a later trial builds.
            cached = AudioCropDataset(items, rate, args.crop_seconds, num_crops=args.crops,
                                      cache=DecodeCache(cache_dir, rate))
            reader = DecodeCache(cache_dir, rate)

            def cached_epoch(epoch: int) -> None:
                for i in range(len(items)):
                    cached[(i, epoch * 100003 + i)]

            def full_read() -> None:
                for item in items:
                    np.asarray(reader.load(item), dtype=np.float32)

            crop_times = [timed(lambda e=e: cached_epoch(e)) for e in range(args.passes)]
            full_times = [timed(full_read) for _ in range(args.passes)]
            base = float(np.mean(decode_times))

            def add(row: str, times: list[float]) -> None:
                for p, seconds in enumerate(times):
                    rows.append(f"{rate:>6} | {row:<18} | {p + 1:>4} | {seconds:>8.3f} | "
                                f"{len(items) / seconds:>12.0f} | "
                                f"{seconds_of_audio / seconds:>10.0f} | {base / seconds:>8.1f}")

            add("decode", decode_times)
            add("prepare (1st pass)", [prepare_time])
            add("cached crops", crop_times)
            add("cached full read", full_times)
            rows.append(f"{rate:>6} | {len(items)} recordings, {seconds_of_audio:.0f} s of audio, cache "
                        f"{sum(p.stat().st_size for p in (cache_dir / f'sr{rate}').rglob('*.npy')) / 2**20:.1f} MiB")
        print("\n".join(rows))
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
