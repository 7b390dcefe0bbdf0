"""launch.py's checks of its own flags, run before anything is loaded, written or started.

Each check raises :class:`ArgumentError` with a message that names the flag, the problem and
the fix (issue 18: ``--seed -1``, ``--cpus-per-trial 0.001 --concurrent 1000``, ``--name ..``,
``--resume`` of any folder, ``--storage ''``). Notes (not errors) for a budget no machine
finishes and for trials at once capped by this machine are returned as text for launch.py to
print. Nothing here imports Ray or torch: the checks cost microseconds.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

from search_spaces import SearchSpace, with_budget
from ssl_core.config_limits import machine_memory_bytes

# Optuna's TPESampler seeds numpy's RandomState, which takes 0 .. 2**32 - 1 only.
MAX_SEED = 2**32 - 1
# A trial is a Python process with torch and a Ray worker: below a quarter of a core it only
# waits for the others (four per core already share it), and Ray would plan ten thousand
# of them on one core at 0.0001.
MIN_CPUS_PER_TRIAL = 0.25
# Memory one trial process holds before its data and model (torch, Ray's worker, the loader):
# about 0.7 GB measured on the tiny birdsong search; 1 GB keeps room for the batch.
GB_PER_TRIAL = 1.0
# The fastest epoch of any shipped space on birdsong is a few seconds: a budget's time is
# bounded below by one second per epoch, and noted when even that bound exceeds a day.
MIN_SECONDS_PER_EPOCH = 1.0
NOTE_BUDGET_SECONDS = 24 * 3600
# Files launch.py writes into every experiment it starts (launch.py SPACE_FILE / LAUNCH_FILE).
TOOL_FILES = ("launch.json", "space.yaml")
NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")


class ArgumentError(ValueError):
    """A launch.py flag that cannot work; the message names the flag, the problem and the fix."""


def check_flags(args: argparse.Namespace, storage_from_env: bool) -> None:
    """The flags that need nothing loaded: seed, CPUs per trial, name, storage.

    ``storage_from_env``: --storage was not given and came from $SSL_SEARCH_STORAGE (the
    message then names the variable, not the flag).
    """
    if not 0 <= args.seed <= MAX_SEED:
        raise ArgumentError(f"--seed {args.seed} is invalid: Optuna's sampler takes a seed in [0, {MAX_SEED}]; "
                            f"use 0 or another non-negative seed")
    if args.cpus_per_trial is not None and not (math.isfinite(args.cpus_per_trial)
                                                and args.cpus_per_trial >= MIN_CPUS_PER_TRIAL):
        raise ArgumentError(f"--cpus-per-trial {args.cpus_per_trial:g} is invalid: a trial is a training process "
                            f"that needs at least {MIN_CPUS_PER_TRIAL:g} of a core (below that, trials only wait "
                            f"for each other); pass --cpus-per-trial {MIN_CPUS_PER_TRIAL:g} or more (1 = one core "
                            f"per trial), or leave it out to use --profile's")
    if args.concurrent is not None and args.concurrent < 1:
        raise ArgumentError(f"--concurrent {args.concurrent} is invalid: at least one trial must run; "
                            f"pass --concurrent 1 or more, or leave it out to use the space's")
    if args.name is not None:
        check_name(args.name)
    if not args.storage.strip():
        source = "$SSL_SEARCH_STORAGE is set but empty" if storage_from_env else "--storage '' is empty"
        raise ArgumentError(f"{source}: experiments would land in the current folder itself, mixed with other "
                            f"files; pass --storage a folder (e.g. --storage runs, the default)")


def check_name(name: str) -> None:
    """An experiment name is exactly one folder under --storage: not '.', '..', '' or a path."""
    if name in (".", ".."):
        where = "the storage root itself" if name == "." else "the folder above the storage root"
        raise ArgumentError(f"--name {name!r} is not an experiment name: it would write into {where}; an "
                            f"experiment is one folder under --storage, so pass a name such as simclr-lr-1")
    if not NAME_CHARS.fullmatch(name):
        raise ArgumentError(f"--name {name!r} is invalid: an experiment name is one folder under --storage and may "
                            f"contain only letters, digits, '.', '_' and '-' (no '/', no spaces); pass a name such "
                            f"as simclr-lr-1, and --storage for the folder it goes in")


def check_resumable(experiment: Path) -> None:
    """``--resume`` continues only a folder launch.py wrote (it holds launch.json or space.yaml)."""
    if not experiment.is_dir():
        raise ArgumentError(f"nothing to resume: {experiment} does not exist; check --name and --storage "
                            f"(the experiment is the folder <storage>/<name>)")
    if not any((experiment / name).is_file() for name in TOOL_FILES):
        raise ArgumentError(f"cannot resume {experiment}: it holds no {' or '.join(TOOL_FILES)}, so launch.py did "
                            f"not start a search there; check --name and --storage, or drop --resume and pass a "
                            f"new --name to start one")


def check_storage_writable(storage: Path) -> None:
    """Prove a file can be made where the storage root will be, and leave nothing behind.

    For ``--dry-run``: the root itself is not created; a probe file is made (and removed) in
    its nearest existing folder, which root's permissions, /proc and read-only mounts refuse.
    Raises OSError from the probe.
    """
    existing = next(p for p in (storage, *storage.parents) if p.exists())
    fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=existing)
    os.close(fd)
    os.unlink(probe)


def unreadable_experiment_state(experiment: Path, err: Exception) -> str:
    """The message for Ray Tune's experiment record that cannot be read: the file Tune reads
    (the newest experiment_state-*.json by name), what failed, and what to do."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    newest = states[-1] if states else experiment / "experiment_state-*.json"
    older = (f"delete it: Tune then reads the older {states[-2].name} beside it (the trials it lacks are "
             f"left out)" if len(states) > 1 else "rerun the search under a new --name")
    detail = f"{type(err).__name__}: {str(err)[:200]}"
    return (f"{newest} is not a readable Ray Tune experiment record ({detail}); it is rewritten while a search "
            f"runs, so a crash or a full disk can cut it: restore it from a backup, or {older}")


def machine_concurrency(cpus: float, memory_bytes: int | None) -> tuple[int, str]:
    """Trials this machine can run at once whatever the flags say, and why (for the note)."""
    by_cpu = max(1, math.floor(cpus / MIN_CPUS_PER_TRIAL + 1e-9))
    if not memory_bytes:
        return by_cpu, f"{cpus:g} CPUs / {MIN_CPUS_PER_TRIAL:g} per trial"
    by_memory = max(1, math.floor(memory_bytes / 1e9 / GB_PER_TRIAL))
    if by_memory < by_cpu:
        return by_memory, f"{memory_bytes / 1e9:.1f} GB of memory / about {GB_PER_TRIAL:g} GB per trial"
    return by_cpu, f"{cpus:g} CPUs / {MIN_CPUS_PER_TRIAL:g} per trial"


def within_machine(space: SearchSpace, address: str | None) -> SearchSpace:
    """The space with trials at once capped by what this machine can run (a cluster's own
    trial_driver resource caps them under --address), printing a note for each change and
    for a budget of years."""
    if not address:
        most, why = machine_concurrency(float(os.cpu_count() or 1), machine_memory_bytes())
        if space.max_concurrent > most:
            print(f"note: {space.max_concurrent} trials at once is more than this machine can run ({why}): "
                  f"planning at most {most} at once, the others wait their turn; pass --concurrent {most} or less")
            space = with_budget(space, max_concurrent=most, validate=False)
    asha = space.scheduler.get("name") == "asha"
    note = budget_note(space.trials, space.epochs, space.max_concurrent,
                       space.scheduler["grace_period"] if asha else space.epochs)
    if note:
        print(note)
    return space


def budget_note(trials: int, epochs: int, concurrent: int, min_epochs: int) -> str | None:
    """A note when a budget asks for more time than anyone means to give it (``trials: 10**9``).

    The bound is a floor: ``concurrent`` trials at once, each at least ``min_epochs`` (ASHA's
    grace period, or every epoch without ASHA) of at least MIN_SECONDS_PER_EPOCH.
    """
    rounds = math.ceil(trials / max(1, concurrent))
    floor_s = rounds * min_epochs * MIN_SECONDS_PER_EPOCH
    if floor_s <= NOTE_BUDGET_SECONDS:
        return None
    return (f"note: the budget asks for {trials:,} trials x up to {epochs} epochs, {concurrent} at once: at least "
            f"{rounds:,} rounds of {min_epochs}+ epochs, over {_duration(floor_s)} even at "
            f"{MIN_SECONDS_PER_EPOCH:g} s per epoch (real epochs take longer); lower --trials (or budget.trials) "
            f"to what you mean to wait for, or stop it with Ctrl-C and --summarise what is done")


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds:,.0f} s"


def given_values(overrides: Iterable[str], data: str | None) -> list[tuple[str, Any, str]]:
    """``(key, value, flag)`` of each ``--override`` and ``--data``, values typed as the config reads
    them (``data.batch_size=32`` -> 32); --data last, as launch.py applies it."""
    from ssl_core.config import Config, parse_override, set_value

    out = []
    flagged = [(text, "--override") for text in overrides] + ([(f"data.dataset={data}", "--data")] if data else [])
    for text, flag in flagged:
        key, raw = parse_override(text)
        cfg = Config()
        set_value(cfg, key, raw)  # already validated with the space: only parses here
        section, field = key.split(".", 1)
        out.append((key, getattr(getattr(cfg, section), field), flag))
    return out


def describe_sources(text: str, given: Iterable[tuple[str, Any, str]]) -> str:
    """``space.describe()`` with each value the user set shown as set, with its flag.

    ``given``: ``(dotted key, value, flag)`` (``("data.dataset", "mine", "--data")``), later
    entries winning; a base line of the same key is replaced, others are added after the base.
    """
    chosen: dict[str, tuple[Any, str]] = {}
    for key, value, flag in given:
        chosen[key] = (value, flag)
    if not chosen:
        return text
    lines = text.split("\n")
    base = [i for i, line in enumerate(lines) if line.endswith(" (base)") and "  = " in line]
    # Keep describe()'s column: the text before "= " of its base lines (or of a param line).
    column = max([lines[i].index("= ") for i in base] + [len(k) + 4 for k in chosen])
    shown = set()
    for i in base:
        key = lines[i].split()[0]
        if key in chosen:
            value, flag = chosen[key]
            lines[i] = f"{'  ' + key:<{column}}= {value!r} ({flag})"
            shown.add(key)
    extra = [f"{'  ' + key:<{column}}= {value!r} ({flag})" for key, (value, flag) in chosen.items()
             if key not in shown]
    at = (base[-1] + 1) if base else next((i for i, line in enumerate(lines) if "objective:" in line), len(lines))
    return "\n".join(lines[:at] + extra + lines[at:])
