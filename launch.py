"""Search SSL hyperparameters: ``python launch.py --space simclr_temp``.

Every input is validated before Ray starts (the space, the overrides, the data, the
resources); then Optuna proposes, ASHA prunes, each trial trains as a Ray Train job, and
the summary, best config, test-split report and exported backbone land in the
experiment directory.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from search_spaces import (SearchSpaceError, list_spaces, load_space, probe_points, resolve_config,
                           validate_space, with_budget)
from ssl_core.config import ConfigError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python launch.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="simclr_temp", help="a shipped space name or a YAML file (default simclr_temp)")
    p.add_argument("--list-spaces", action="store_true", help="print the shipped spaces, one line each")
    p.add_argument("--data", help="dataset: an embedded name (birdsong, digits) or a directory")
    p.add_argument("--trials", type=int, help="number of trials (default: the space's budget)")
    p.add_argument("--epochs", type=int, help="epochs per trial (default: the space's budget)")
    p.add_argument("--concurrent", type=int, help="trials at once (default: the space's, capped by resources)")
    p.add_argument("--gpus-per-trial", type=float, default=None,
                   help="GPUs per worker; a fraction (0.5) lets trials share a GPU (default: 1 if a GPU is found)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per worker (default 1)")
    p.add_argument("--workers-per-trial", type=int, default=1, help="DDP workers per trial (default 1)")
    p.add_argument("--address", help="Ray cluster address ('auto' under ray job submit); default: a local Ray")
    p.add_argument("--storage", default="runs", help="results root, reachable by every node (default ./runs)")
    p.add_argument("--name", help="experiment name (default: <space>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the experiment --name under --storage")
    p.add_argument("--seed", type=int, default=0, help="Optuna sampler seed (default 0)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="change the space's base config, e.g. --override data.batch_size=32 (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="validate, print the space and the resource plan, exit")
    return p.parse_args(argv)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _local_resources() -> tuple[float, float]:
    import torch

    return float(os.cpu_count() or 1), float(torch.cuda.device_count())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_spaces:
        for name, description in list_spaces():
            print(f"{name:16s} {description}")
        return 0
    if args.resume and not args.name:
        return _fail("--resume needs --name: the experiment to continue (a folder under --storage)")
    if args.name and not re.fullmatch(r"[A-Za-z0-9._-]+", args.name):
        return _fail(f"--name {args.name!r} may contain only letters, digits, '.', '_' and '-'")
    overrides = list(args.override) + ([f"data.dataset={args.data}"] if args.data else [])
    try:
        space = load_space(args.space)
        space = with_budget(space, trials=args.trials, epochs=args.epochs, max_concurrent=args.concurrent)
        validate_space(space, overrides)
        first = resolve_config(space, next(iter(probe_points(space))), overrides)
    except (SearchSpaceError, ConfigError, FileNotFoundError) as err:
        return _fail(str(err))

    # The data exists, loads and fits the config: checked here, in seconds, before Ray.
    from ssl_core.data_pipeline import check_data_against_config, load_and_split
    from ssl_core.methods import METHODS

    try:
        index, splits = load_and_split(first)
        check_data_against_config(first, index, splits, args.workers_per_trial, METHODS[first.method.name].uses_labels)
    except (ConfigError, FileNotFoundError, ValueError) as err:
        return _fail(str(err))

    storage = Path(args.storage).expanduser().resolve()
    try:
        storage.mkdir(parents=True, exist_ok=True)
        probe = storage / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        return _fail(f"storage path {storage} is not writable ({err.strerror}); pass --storage a writable folder")
    name = args.name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.resume and not (storage / name).is_dir():
        return _fail(f"nothing to resume: {storage / name} does not exist")
    if not args.resume and (storage / name).exists():
        return _fail(f"{storage / name} already exists; pass --resume to continue it or another --name")

    cpus, gpus = _local_resources()
    gpus_per = args.gpus_per_trial if args.gpus_per_trial is not None else (1.0 if gpus else 0.0)
    if args.workers_per_trial > 1 and 0 < gpus_per < 1:
        return _fail("a fractional --gpus-per-trial needs --workers-per-trial 1: DDP workers of one trial "
                     "each need a whole GPU (two on one device fail in NCCL)")
    if gpus_per and not gpus and not args.address:
        return _fail(f"--gpus-per-trial {gpus_per} but no GPU is visible; use --gpus-per-trial 0")

    from trainables.search import SearchPlan, concurrent_trials  # imports ray
    from trainables.trial import TrialResources

    resources = TrialResources(workers=args.workers_per_trial, cpus_per_worker=args.cpus_per_trial,
                               gpus_per_worker=gpus_per)
    concurrent = concurrent_trials(space, resources, cpus, gpus)
    if concurrent < 1 and not args.address:
        return _fail(f"one trial needs {resources.workers} x ({resources.cpus_per_worker} CPU, "
                     f"{resources.gpus_per_worker} GPU) but this machine has {cpus:g} CPUs, {gpus:g} GPUs")
    plan = SearchPlan(space=space, overrides=tuple(overrides), storage_path=storage, experiment=name,
                      resources=resources, concurrent=max(1, concurrent), seed=args.seed, address=args.address)
    print(space.describe())
    print(f"resources: {cpus:g} CPUs, {gpus:g} GPUs found; each trial = {resources.workers} worker(s) x "
          f"({resources.cpus_per_worker:g} CPU, {resources.gpus_per_worker:g} GPU); {plan.concurrent} trial(s) at once")
    print(f"experiment: {plan.experiment_dir}")
    if args.dry_run:
        return 0
    return _run(plan, args.resume)


def _run(plan, resume: bool) -> int:
    import ray

    from trainables.results import write_results
    from trainables.search import run_search, start_ray

    started = time.perf_counter()
    try:
        start_ray(plan)
    except (ConnectionError, RuntimeError, ValueError) as err:
        return _fail(f"cannot use the Ray cluster at {plan.address!r}: {err}")
    try:
        results = run_search(plan, resume=resume)
        print(write_results(results, plan.space, plan.experiment_dir))
    finally:
        ray.shutdown()
    print(f"search took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
