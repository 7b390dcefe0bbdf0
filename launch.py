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
from search_spaces.resource_profile import ProfileError, choose_packing, gpu_memory_warning, load_profile
from ssl_core.config import ConfigError


REPO = Path(__file__).resolve().parent
DEFAULT_PROFILE = REPO / "cluster" / "workstation.yaml"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python launch.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="simclr_temp", help="a shipped space name or a YAML file (default simclr_temp)")
    p.add_argument("--list-spaces", action="store_true", help="print the shipped spaces, one line each")
    p.add_argument("--data", help="dataset: an embedded name (birdsong, digits) or a directory")
    p.add_argument("--trials", type=int, help="number of trials (default: the space's budget)")
    p.add_argument("--epochs", type=int, help="epochs per trial (default: the space's budget)")
    p.add_argument("--concurrent", type=int, help="trials at once (default: the space's, capped by resources)")
    p.add_argument("--profile", default=str(DEFAULT_PROFILE),
                   help="resource profile: trials per GPU, CPUs per trial (default cluster/workstation.yaml)")
    p.add_argument("--gpus-per-trial", type=float, default=None,
                   help="GPUs per trial; 0.5 lets two trials share a GPU (default: from --profile)")
    p.add_argument("--cpus-per-trial", type=float, default=None, help="CPUs per trial (default: from --profile)")
    p.add_argument("--workers-per-trial", type=int, default=None,
                   help="DDP workers per trial, each with a share of the trial's CPUs/GPUs (default: from --profile)")
    p.add_argument("--address", help="Ray cluster address ('auto' under ray job submit); default: a local Ray")
    p.add_argument("--storage", default=os.environ.get("SSL_SEARCH_STORAGE", "runs"),
                   help="results root, reachable by every node (default $SSL_SEARCH_STORAGE, else ./runs)")
    p.add_argument("--name", help="experiment name (default: <space>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the experiment --name under --storage")
    p.add_argument("--seed", type=int, default=0, help="Optuna sampler seed (default 0)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="change the space's base config, e.g. --override data.batch_size=32 (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="validate, print the space and the resource plan, exit")
    return p.parse_args(argv)


class LaunchError(ValueError):
    """Bad input found before the search starts; the message names the problem and the fix."""


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _local_resources() -> tuple[float, float, float]:
    """CPUs, GPUs and the first GPU's memory in GB on this machine."""
    import torch

    gpus = torch.cuda.device_count()
    memory = torch.cuda.get_device_properties(0).total_memory / 1e9 if gpus else 0.0
    return float(os.cpu_count() or 1), float(gpus), memory


def _storage_dir(args: argparse.Namespace) -> Path:
    if "://" in args.storage:
        raise LaunchError(f"--storage {args.storage}: object-store URIs are not supported yet (the trainer writes "
                          f"checkpoints and events to files); mount the bucket or share a folder (NFS) on every "
                          f"node and pass its path")
    storage = Path(args.storage).expanduser().resolve()
    try:
        storage.mkdir(parents=True, exist_ok=True)
        probe = storage / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise LaunchError(f"storage path {storage} is not writable ({err.strerror}); "
                          f"pass --storage a writable folder") from None
    return storage


def _experiment_name(args: argparse.Namespace, space_name: str, storage: Path) -> str:
    name = args.name or f"{space_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.resume and not (storage / name).is_dir():
        raise LaunchError(f"nothing to resume: {storage / name} does not exist")
    if not args.resume and (storage / name).exists():
        raise LaunchError(f"{storage / name} already exists; pass --resume to continue it or another --name")
    return name


def _check_data(space, overrides: list[str], workers: int) -> None:
    """The data exists, loads and fits the config: checked in seconds, before any trial."""
    from ssl_core.data_pipeline import check_data_against_config, load_and_split
    from ssl_core.methods import METHODS

    validate_space(space, overrides)
    first = resolve_config(space, next(iter(probe_points(space))), overrides)
    index, splits = load_and_split(first)
    check_data_against_config(first, index, splits, workers, METHODS[first.method.name].uses_labels)


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
    try:
        profile = load_profile(args.profile)
        space = load_space(args.space)
        space = with_budget(space, trials=args.trials, epochs=args.epochs, max_concurrent=args.concurrent)
        user_overrides = list(args.override) + ([f"data.dataset={args.data}"] if args.data else [])
        validate_space(space, user_overrides)
    except (SearchSpaceError, ConfigError, ProfileError, LaunchError, FileNotFoundError) as err:
        return _fail(str(err))

    connected = False
    try:
        if args.address:
            from trainables.search import connect_cluster  # imports ray; connecting starts nothing

            try:
                cluster = connect_cluster(args.address)
            except (ConnectionError, RuntimeError, ValueError) as err:
                return _fail(f"cannot use the Ray cluster at {args.address!r}: {err}")
            connected = True
            cpus, gpus, memory = cluster.cpus, cluster.gpus, 0.0
        else:
            cpus, gpus, memory = _local_resources()
        try:
            packing = choose_packing(profile, gpus, gpus_per_trial=args.gpus_per_trial,
                                     cpus_per_trial=args.cpus_per_trial, workers_per_trial=args.workers_per_trial)
            overrides = list(packing.overrides) + user_overrides
            if packing.gpus_per_worker and not gpus and not args.address:
                raise LaunchError(f"--gpus-per-trial {packing.gpus_per_trial:g} but no GPU is visible; "
                                  f"use --gpus-per-trial 0")
            _check_data(space, overrides, packing.workers)
            storage = _storage_dir(args)
            name = _experiment_name(args, space.name, storage)
        except (SearchSpaceError, ConfigError, ProfileError, LaunchError, FileNotFoundError, ValueError) as err:
            return _fail(str(err))

        from trainables.search import SearchPlan, concurrent_trials  # imports ray
        from trainables.trial import TrialResources

        resources = TrialResources(workers=packing.workers, cpus_per_worker=packing.cpus_per_worker,
                                   gpus_per_worker=packing.gpus_per_worker)
        if args.address:
            # A cluster may autoscale: the trial_driver resource caps trials at once, Tune queues the rest.
            concurrent = min(space.max_concurrent, int(cluster.trial_drivers))
        else:
            concurrent = concurrent_trials(space, resources, cpus, gpus)
            if concurrent < 1:
                return _fail(f"one trial needs {packing.cpus_per_trial:g} CPUs and {packing.gpus_per_trial:g} GPUs "
                             f"but this machine has {cpus:g} CPUs, {gpus:g} GPUs; lower --cpus-per-trial / "
                             f"--gpus-per-trial or edit {profile.source}")
        plan = SearchPlan(space=space, overrides=tuple(overrides), storage_path=storage, experiment=name,
                          resources=resources, concurrent=concurrent, seed=args.seed, address=args.address)
        print(space.describe())
        where = f"the cluster at {args.address}" if args.address else "this machine"
        print(f"resources: {cpus:g} CPUs, {gpus:g} GPUs on {where}; profile {profile.name} ({profile.source}); "
              f"each trial = {resources.workers} worker(s) x ({resources.cpus_per_worker:g} CPU, "
              f"{resources.gpus_per_worker:g} GPU); {plan.concurrent} trial(s) at once")
        if packing.overrides:
            print(f"profile overrides: {' '.join(packing.overrides)}")
        warning = gpu_memory_warning(profile, packing, memory) if memory else None
        if warning:
            print(warning)
        print(f"experiment: {plan.experiment_dir}")
        if args.dry_run:
            return 0
        connected = True  # the search below starts (or already uses) the Ray session; shut it down after
        return _run(plan, args.resume)
    finally:
        if connected:
            import ray

            ray.shutdown()


def _run(plan, resume: bool) -> int:
    import ray

    from trainables.results import write_results
    from trainables.search import run_search, start_ray

    started = time.perf_counter()
    if not ray.is_initialized():  # a cluster (--address) is already connected by main()
        start_ray(plan)
    results = run_search(plan, resume=resume)
    print(write_results(results, plan.space, plan.experiment_dir))
    print(f"search took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
