"""How trials are packed onto one machine's CPUs and GPUs: the workstation profile.

``cluster/workstation.yaml`` (``yaml.safe_load`` only) says, for a machine with a GPU and
for one without, how many trials share a GPU, how many CPUs each trial takes and which
config overrides come with that hardware. ``launch.py`` reads it for a local Ray and for a
cluster; its flags override it. All sizes here are per *trial*: a trial with ``W`` workers
gives each worker ``cpus_per_trial / W`` CPUs and ``gpus_per_trial / W`` GPUs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ssl_core.config import ConfigError, parse_override


class ProfileError(ValueError):
    """A resource profile or a packing flag is unusable; the message names the key and the fix."""


@dataclass(frozen=True)
class DeviceSection:
    """Packing for one kind of machine (``gpu`` or ``cpu`` section of the profile)."""

    cpus_per_trial: float
    trials_per_gpu: int = 1  # gpu section only
    memory_gb: float | None = None  # gpu section only: the card the profile was sized for
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceProfile:
    name: str
    gpu: DeviceSection
    cpu: DeviceSection
    workers_per_trial: int
    source: Path


@dataclass(frozen=True)
class TrialPacking:
    """What one trial holds; ``gpus_per_worker`` is fractional only with one worker."""

    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    overrides: tuple[str, ...]  # config overrides that come with this hardware

    @property
    def cpus_per_trial(self) -> float:
        return self.workers * self.cpus_per_worker

    @property
    def gpus_per_trial(self) -> float:
        return self.workers * self.gpus_per_worker


def _number(raw: dict, key: str, where: str, minimum: float, integer: bool = False, default: Any = None) -> Any:
    value = raw.get(key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok or value < minimum:
        kind = "an integer" if integer else "a number"
        raise ProfileError(f"{where}: '{key}' must be {kind} >= {minimum:g}, got {value!r}")
    return int(value) if integer else float(value)


def _section(raw: Any, name: str, source: Path) -> DeviceSection:
    where = f"{source}: section '{name}'"
    if not isinstance(raw, dict):
        raise ProfileError(f"{where} must be a mapping with cpus_per_trial (and, for gpu, trials_per_gpu)")
    known = {"cpus_per_trial", "overrides"} | ({"trials_per_gpu", "memory_gb"} if name == "gpu" else set())
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise ProfileError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    overrides = raw.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ProfileError(f"{where}: 'overrides' must be a list of 'key=value' strings")
    for item in overrides:
        try:
            parse_override(item)
        except ConfigError as err:
            raise ProfileError(f"{where}: override {item!r}: {err}") from None
    memory = raw.get("memory_gb")
    return DeviceSection(
        cpus_per_trial=_number(raw, "cpus_per_trial", where, 0.01),
        trials_per_gpu=_number(raw, "trials_per_gpu", where, 1, integer=True, default=1) if name == "gpu" else 1,
        memory_gb=None if memory is None else _number(raw, "memory_gb", where, 1),
        overrides=tuple(overrides),
    )


def load_profile(path: str | Path) -> ResourceProfile:
    """Read and check a profile YAML; raises ProfileError naming the file and key."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise ProfileError(f"resource profile {source} not found; pass --profile an existing YAML "
                           f"(cluster/workstation.yaml is the shipped one)")
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ProfileError(f"{source} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{source} must be a mapping with 'gpu', 'cpu' and 'workers_per_trial'")
    unknown = sorted(set(map(str, raw)) - {"name", "gpu", "cpu", "workers_per_trial"})
    if unknown:
        raise ProfileError(f"{source}: unknown key(s) {unknown}; allowed: cpu, gpu, name, workers_per_trial")
    return ResourceProfile(
        name=str(raw.get("name", source.stem)),
        gpu=_section(raw.get("gpu"), "gpu", source),
        cpu=_section(raw.get("cpu"), "cpu", source),
        workers_per_trial=_number(raw, "workers_per_trial", str(source), 1, integer=True),
        source=source,
    )


def choose_packing(profile: ResourceProfile, gpus_visible: float, *, gpus_per_trial: float | None = None,
                   cpus_per_trial: float | None = None, workers_per_trial: int | None = None) -> TrialPacking:
    """The profile's packing for this hardware, with any flag given (not None) taking precedence.

    ``gpus_visible``: GPUs on this machine (local Ray) or in the cluster (``--address``).
    """
    section = profile.gpu if gpus_visible > 0 else profile.cpu
    workers = workers_per_trial if workers_per_trial is not None else profile.workers_per_trial
    if workers < 1:
        raise ProfileError(f"--workers-per-trial must be >= 1, got {workers}")
    if gpus_per_trial is None:
        gpus_per_trial = (workers / section.trials_per_gpu) if gpus_visible > 0 else 0.0
    if gpus_per_trial < 0 or not math.isfinite(gpus_per_trial):
        raise ProfileError(f"--gpus-per-trial must be >= 0, got {gpus_per_trial}")
    cpus = cpus_per_trial if cpus_per_trial is not None else max(section.cpus_per_trial, float(workers))
    if not cpus > 0 or not math.isfinite(cpus):
        raise ProfileError(f"--cpus-per-trial must be > 0, got {cpus}")
    gpus_per_worker = gpus_per_trial / workers
    if workers > 1 and gpus_per_worker and not float(gpus_per_worker).is_integer():
        # Two DDP workers on one device fail in NCCL ("Duplicate GPU detected"; docs/design.md, Ray and Optuna facts).
        raise ProfileError(f"{workers} workers per trial need whole GPUs each, but --gpus-per-trial "
                           f"{gpus_per_trial:g} gives {gpus_per_worker:g} per worker; share GPUs between trials "
                           f"only with --workers-per-trial 1, or pass --gpus-per-trial {workers}")
    return TrialPacking(workers=workers, cpus_per_worker=cpus / workers, gpus_per_worker=gpus_per_worker,
                        overrides=section.overrides)


def gpu_memory_warning(profile: ResourceProfile, packing: TrialPacking, card_memory_gb: float) -> str | None:
    """A warning when the visible card is smaller than the one the profile was sized for."""
    wanted = profile.gpu.memory_gb
    if wanted is None or not packing.gpus_per_worker or card_memory_gb >= 0.95 * wanted:
        return None
    return (f"warning: {profile.source} was sized for a {wanted:g} GB GPU but this one has {card_memory_gb:.1f} GB; "
            f"if trials run out of memory, lower trials_per_gpu there or pass --gpus-per-trial 1")
