"""First step of ``bench/gpu_suite.sh``: check the Python packages, then make the data ready.

Prints each package's version (ray and optuna are not needed: nothing the suite runs imports
them), generates the embedded data sets and decodes each into the decode cache at every sample
rate the suite uses, with all CPU cores (the trainer decodes with at most 2 processes, which on
birdsong-x16 would take minutes out of the suite's budget). Exits 1 naming a missing package.

    PYTHONPATH=. python bench/suite_prepare.py --data birdsong-x16 birdsong --rates 16000 32000
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, package not installed

NEEDED = ("torch", "torchaudio", "torchvision", "timm", "sklearn", "tensorboard", "numpy", "yaml", "soundfile")
NOT_NEEDED = ("ray", "optuna")


def check_packages() -> list[str]:
    """Print one line per package; return the needed ones that are missing."""
    missing = []
    for name in NEEDED + NOT_NEEDED:
        try:
            module = importlib.import_module(name)
            print(f"{name:<12} {getattr(module, '__version__', 'present')}")
        except ImportError as err:
            print(f"{name:<12} absent{' (not needed)' if name in NOT_NEEDED else f': {err}'}")
            if name in NEEDED:
                missing.append(name)
    return missing


def generate_with(name: str, processes: int) -> None:
    """Generate embedded data set ``name`` with ``processes`` processes, unless it is cached.

    ``embedded_path`` would generate it with at most 2 (its default, for shared machines): the
    same files (each recording has its own seed), in a fraction of the time on a GPU machine.
    """
    import functools
    import importlib

    from ssl_core.data.embedded import paths

    module_name, scale = paths.embedded_generator(name)
    root = paths.cache_root() / f"{name}-{paths.VERSION}"
    if root.is_dir():
        return
    if module_name != "birdsong":  # only birdsong's generator takes a process count
        paths.embedded_path(name)
        return
    started = time.perf_counter()
    generate = importlib.import_module(f"ssl_core.data.embedded.{module_name}").generate
    options = {"processes": processes} | ({"scale": scale} if scale != 1 else {})
    paths._generate_atomically(root, functools.partial(generate, **options))
    print(f"generated {name} with {processes} processes ({time.perf_counter() - started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["birdsong"], help="embedded data sets to make ready")
    parser.add_argument("--rates", nargs="+", type=int, default=[16000], help="sample rates to decode at")
    args = parser.parse_args(argv)
    missing = check_packages()
    if missing:
        print(f"error: missing {', '.join(missing)}: pip install {' '.join(missing)} (soundfile writes and "
              "reads the audio data sets)", file=sys.stderr)
        return 1
    import torch

    print(f"torch sees {'CUDA: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}; "
          f"{os.cpu_count()} CPUs")
    from ssl_core.config import load_config
    from ssl_core.data import load_dataset
    from ssl_core.data.decode_cache import prepare_audio
    from ssl_core.data_pipeline import decode_cache_for

    workers = os.cpu_count() or 1
    for name in args.data:
        generate_with(name, workers)
        for rate in args.rates:
            started = time.perf_counter()
            cfg = load_config(None, [f"data.dataset={name}", f"data.sample_rate={rate}"])
            index = load_dataset(cfg.data.dataset)  # generates an embedded set on first use
            _, report = prepare_audio(index, decode_cache_for(cfg), workers=workers)
            print(f"{name} at {rate} Hz: {len(index.items)} recordings, {report.summary()} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
