"""Search SSL hyperparameters: ``python launch.py --space simclr_temp``.

Every input is validated before Ray starts (the space, the overrides, the data, the
resources, the storage, the cluster address); then Optuna proposes, ASHA prunes, each trial
trains in its Tune trial (a Ray Train job when it has several DDP workers), and the summary, best config, test-split report and exported
backbone land in the experiment directory. ``--summarise DIR`` writes them again from that
directory alone (its trials and the ``space.yaml`` stored at the start), without Ray.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import sys
import time
from pathlib import Path

from search_spaces import (SearchSpaceError, grace_for_epochs, list_spaces, load_space, probe_points,
                           resolve_config, validate_space, with_budget)
from trainables.resource_profile import ProfileError, choose_packing, gpu_memory_warning, load_profile
from trainables.search_records import RecordsError, prepare
from ssl_core.budget import Budget
from ssl_core.config import ConfigError
from ssl_core.data.embedded.paths import pin_cache_env
from launch_args import DEFAULT_PROFILE, DEFAULT_SPACE, LAUNCH_FILE, REPO, SPACE_FILE, parse_args
from launch_checks import (ArgumentError, check_flags, check_resumable, check_storage_writable, describe_sources,
                           given_values, unreadable_experiment_state, within_machine)


ADDRESS_TIMEOUT_S = 5.0


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


def _storage_path(args: argparse.Namespace) -> Path:
    """The storage root, checked without creating anything (so a refused launch leaves no folder)."""
    if "://" in args.storage:
        raise LaunchError(f"--storage {args.storage}: object-store URIs are not supported yet (the trainer writes "
                          f"checkpoints and events to files); mount the bucket or share a folder (NFS) on every "
                          f"node and pass its path")
    storage = Path(args.storage).expanduser().resolve()
    existing = next(p for p in (storage, *storage.parents) if p.exists())
    if not existing.is_dir():
        raise LaunchError(f"storage path {storage} is not writable ({existing} is a file, not a folder); "
                          f"pass --storage a writable folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LaunchError(f"storage path {storage} is not writable (no write permission on {existing}); "
                          f"pass --storage a writable folder")
    return storage


def _make_storage(storage: Path, create: bool = True) -> None:
    """Create the storage root and prove a file can be written there (root ignores permissions,
    /proc and read-only mounts do not). ``create=False`` (``--dry-run``): the same proof in the
    nearest existing folder, leaving nothing behind."""
    try:
        if not create:
            check_storage_writable(storage)
            return
        storage.mkdir(parents=True, exist_ok=True)
        probe = storage / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise LaunchError(f"storage path {storage} is not writable ({err.strerror}); "
                          f"pass --storage a writable folder") from None


def _check_address(address: str) -> None:
    """Fail in seconds when nothing listens at ``--address``: ``ray.init`` would retry for minutes."""
    target = os.environ.get("RAY_ADDRESS", "") if address == "auto" else address
    if not target or target == "auto":
        return  # Ray looks for a cluster started on this machine and says at once when there is none
    host, sep, port = target.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise LaunchError(f"--address {address!r} is not host:port; pass the head node's GCS address "
                          f"(e.g. 10.0.0.5:6379, printed by `ray start --head`), 'auto' under `ray job submit`, "
                          f"or leave --address out to run on this machine")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=ADDRESS_TIMEOUT_S):
            pass
    except OSError as err:
        raise LaunchError(f"cannot reach the Ray cluster at {address!r}: nothing answers at {host}:{port} within "
                          f"{ADDRESS_TIMEOUT_S:g} s ({err.strerror or err}). Check the head node's address and port "
                          f"(`ray status` on the head; default port 6379), that the cluster is up and that no firewall "
                          f"blocks the port; or leave --address out to run on this machine") from None


def _experiment_name(args: argparse.Namespace, space_name: str, storage: Path) -> str:
    name = args.name or f"{space_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.resume:
        check_resumable(storage / name)  # only a folder this tool wrote (row 10)
    if not args.resume and (storage / name).exists():
        raise LaunchError(f"{storage / name} already exists; pass --resume to continue it or another --name")
    return name


def _check_data(space, overrides: list[str], workers: int) -> Budget:
    """The data exists, loads and fits the config: checked in seconds, before any trial.
    Returns one trial's budget in optimiser steps (at the space's first point).

    The space was validated with the user's overrides already; ``overrides`` adds the resource
    profile's (loader workers, device), which one resolved config checks.
    """
    from ssl_core.budget import training_budget
    from ssl_core.data_pipeline import check_data_against_config, classes_missing_from, load_and_split
    from ssl_core.methods import METHODS

    first = resolve_config(space, next(iter(probe_points(space))), overrides)
    try:
        index, splits = load_and_split(first)
    except FileNotFoundError as err:
        raise LaunchError(f"{err}; pass --data (or data.dataset) an embedded dataset (birdsong, birdsong-x4, digits ...), "
                          f"an existing dataset folder or a .csv manifest") from None
    check_data_against_config(first, index, splits, workers, METHODS[first.method.name].uses_labels)
    if len(splits["test"]) == 0:
        raise LaunchError(f"the test split of {index.name!r} is empty; the best trial is evaluated on it once "
                          f"after the search. Give data.fold_map a test fold (or use data.split_fractions)")
    note = classes_missing_from("val", index, splits)
    if note:
        print(note)
    return training_budget(first, len(splits["train"]), epochs=space.epochs, world_size=workers)


def _stored_space(experiment: Path):
    """The space an experiment searched, from its ``space.yaml`` (None if it has none)."""
    path = experiment / SPACE_FILE
    if not path.is_file():
        return None
    space = load_space(path, validate=False)  # validated by the caller, once, with its overrides
    meta = experiment / LAUNCH_FILE
    try:
        stored = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
        name = stored.get("space")  # AttributeError: valid JSON, but not launch.py's object
    except (ValueError, AttributeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise LaunchError(f"{meta} is not launch.py's record (a JSON object): {err}; restore it, or delete it "
                          f"(the space is then read from {SPACE_FILE} alone, only its name is lost)") from None
    return dataclasses.replace(space, name=name) if name else space


def _record_launch(plan, resume: bool, argv: list[str]) -> None:
    """Store the space (budget flags applied) and the command in the experiment directory, so
    that ``--summarise`` and ``--resume`` need nothing else."""
    import yaml

    from ssl_core.atomic import atomic_write_text

    plan.experiment_dir.mkdir(parents=True, exist_ok=True)
    meta = {"space": plan.space.name, "space_file": str(plan.space.path), "argv": argv,
            "overrides": list(plan.overrides), "seed": plan.seed, "resumed": resume,
            "written": time.strftime("%Y-%m-%d %H:%M:%S")}
    header = (f"# search space {plan.space.name!r} as launched (from {plan.space.path}, budget flags applied);\n"
              f"# read by `launch.py --summarise` and `--resume`\n")
    atomic_write_text(plan.experiment_dir / SPACE_FILE, header + yaml.safe_dump(plan.space.to_dict(), sort_keys=False))
    atomic_write_text(plan.experiment_dir / LAUNCH_FILE, json.dumps(meta, indent=2) + "\n")


def _summarise(args: argparse.Namespace) -> int:
    """Write the result files again from an experiment directory: no search, no Ray cluster."""
    experiment = Path(args.summarise).expanduser().resolve()
    if not experiment.is_dir() or not any(experiment.glob("experiment_state-*.json")):
        return _fail(f"{experiment} is not a search's experiment folder (no experiment_state-*.json from Ray Tune); "
                     f"pass --summarise <storage>/<experiment name>, e.g. runs/simclr_temp-20250101-120000")
    try:
        space = _stored_space(experiment)
        if space is None and args.space is None:
            return _fail(f"{experiment} has no {SPACE_FILE} (it is stored when a search starts); pass --space "
                         f"with the space it searched (and --epochs / --trials if the search changed them)")
        if space is None:
            space = _budgeted(load_space(args.space, validate=False), args)
        validate_space(space)  # once: a summary must not describe a space that no trial could run
    except (ValueError, FileNotFoundError) as err:  # SearchSpaceError, ConfigError, a broken launch.json
        return _fail(str(err))
    from trainables.results import load_experiment, write_results  # imports ray; starts nothing

    try:
        results, statuses = load_experiment(experiment)
    except (ValueError, LookupError, TypeError, AttributeError, EOFError) as err:  # a corrupt experiment_state
        return _fail(unreadable_experiment_state(experiment, err))
    try:
        print(write_results(results, space, experiment, statuses))
    except FileNotFoundError as err:  # a deleted trial folder or checkpoint, a dataset moved away
        return _fail(f"{err}; --summarise needs the trial folders of {experiment} and the dataset the search used")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__)
    pin_cache_env()  # before any trial starts in a folder of its own
    if args.list_spaces:
        for name, description in list_spaces():
            print(f"{name:16s} {description}")
        return 0
    if args.summarise:
        return _summarise(args)
    if args.resume and not args.name:
        return _fail("--resume needs --name: the experiment to continue (a folder under --storage)")
    try:
        check_flags(args, args.storage_from_env)  # seed, CPUs per trial, name, storage: nothing loaded yet
    except ArgumentError as err:
        return _fail(str(err))
    try:
        try:
            profile = load_profile(args.profile)
        except ProfileError as err:
            raise ProfileError(f"{err}\nfix --profile {args.profile} (the shipped {DEFAULT_PROFILE.relative_to(REPO)} "
                               f"documents every key), or leave --profile out to use it") from None
        storage = _storage_path(args)
        stored = _stored_space(storage / args.name) if args.resume and args.space is None else None
        space = stored or load_space(args.space or DEFAULT_SPACE, validate=False)
        space = _budgeted(space, args)
        space = within_machine(space, args.address)
        user_overrides = list(args.override) + ([f"data.dataset={args.data}"] if args.data else [])
        validate_space(space, user_overrides)  # the one validation of the space in this process
        name = _experiment_name(args, space.name, storage)
        records = prepare(args, space, user_overrides, storage, _stored_space)
        if args.address:
            _check_address(args.address)
    except (SearchSpaceError, ConfigError, ProfileError, LaunchError, ArgumentError, FileNotFoundError,
            json.JSONDecodeError, RecordsError) as err:
        return _fail(str(err))

    connected = False
    try:
        if args.address:
            from trainables.search import connect_cluster  # imports ray; connecting starts nothing

            # The port answers but may not be Ray's (a dashboard, another service): one GCS
            # attempt (~40 s) instead of Ray's default retries (many minutes). Only with
            # --address: a local head's GCS start reads the same variable.
            os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "1")
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
            budget = _check_data(space, overrides, packing.workers)
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
        try:
            _make_storage(storage, create=not args.dry_run)  # a dry run writes nothing
        except LaunchError as err:
            return _fail(str(err))
        plan = SearchPlan(space=space, overrides=tuple(overrides), storage_path=storage, experiment=name,
                          resources=resources, concurrent=concurrent, seed=args.seed, address=args.address,
                          warm_start=records.warm_start, repeat_imported=args.warm_start_repeat, mlflow=records.mlflow)
        print(describe_sources(space.describe(), given_values(args.override, args.data)))
        searched = {"data.batch_size", "data.windows_per_epoch", "train.max_steps_per_epoch"} & set(space.params)
        print(f"budget per trial{' (at the first point: ' + ', '.join(sorted(searched)) + ' searched)' if searched else ''}: "
              f"{budget.describe()}")
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
        if records.warm_start:
            print("\n".join(records.warm_start.lines()))
        if args.dry_run:
            return 0
        connected = True  # the search below starts (or already uses) the Ray session; shut it down after
        return _run(plan, args.resume, sys.argv[1:] if argv is None else list(argv))
    finally:
        if connected:
            import ray

            ray.shutdown()


def _budgeted(space, args: argparse.Namespace):
    """The space with --trials / --epochs / --concurrent applied; an ASHA grace period that
    --epochs leaves no room for keeps its share of the run instead of failing the launch."""
    grace = grace_for_epochs(space, args.epochs)
    if grace is not None:
        print(f"note: --epochs {args.epochs} leaves no room for {space.name}'s ASHA grace period of "
              f"{space.scheduler['grace_period']} epochs (of {space.epochs}): grace period {grace} for this search")
    return with_budget(space, trials=args.trials, epochs=args.epochs, max_concurrent=args.concurrent,
                       grace_period=grace, validate=False)


def _run(plan, resume: bool, argv: list[str]) -> int:
    import ray

    from trainables.results import load_experiment, write_results
    from trainables.search import run_search, start_ray
    from trainables.search_records import after_results

    started = time.perf_counter()
    if not ray.is_initialized():  # a cluster (--address) is already connected by main()
        start_ray(plan)
    _record_launch(plan, resume, argv)
    if plan.mlflow is not None:
        from trainables.mlflow_log import start_parent

        plan = dataclasses.replace(plan, mlflow_parent=start_parent(plan.mlflow, plan.experiment, {
            "space": plan.space.name, "command": " ".join(argv), **plan.space.budget}))
    run_search(plan, resume=resume)
    # Read back from the experiment folder, as --summarise does: one path for both.
    results, statuses = load_experiment(plan.experiment_dir)
    if plan.space.confirm:
        from trainables.confirm import confirm_after_search

        confirm_after_search(plan, results, statuses)
        results, statuses = load_experiment(plan.experiment_dir)
    print(write_results(results, plan.space, plan.experiment_dir, statuses))
    for line in after_results(plan.experiment_dir, plan.mlflow, plan.mlflow_parent):
        print(line)
    print(f"search took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
