"""What this machine can do, as config checks: seeds, devices, folders, counts and memory.

``ssl_core.config_checks`` calls these after its per-field range checks. Each refusal is a
ConfigError that starts with the field's dotted name and ends with the fix, like every other
config error. The bounds are far above any useful setting; they exist so that a typo
(``data.num_workers=100000``, ``data.crops_per_item=1000000``) is refused in milliseconds
instead of starting 100,000 processes or asking for 128 GB per item in every trial.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Callable

from ssl_core.config_errors import ConfigError

# Seeds feed numpy's generators (non-negative only) and Optuna's (32 bits); a trial's seed is
# train.seed + its number - 1, so 2**31 - 1 leaves room for two billion trials.
MAX_SEED = 2**31 - 1
# Any other integer field: far past every real count or width (a 65,536-entry MoCo queue,
# 65,536 DINO prototypes), far below what would exhaust memory before the first step.
MAX_COUNT = 2**20
# Fields with a tighter bound than MAX_COUNT: (most, why and what to do).
MAX_OF = {
    "data.crops_per_item": (64, "no method uses more views than 2 + augment.num_local_crops; lower it"),
    "data.windows_per_epoch": (1024, "each visit is one more sample an epoch; count the budget in epochs instead"),
    "data.image_size": (4096, "images are cropped to image_size x image_size on the device; lower it"),
    "augment.num_local_crops": (32, "each local crop is one more forward pass per item; lower it"),
    "model.proj_hidden_dim": (65536, "a wider projector only costs memory; lower it"),
    "model.embedding_dim": (65536, "a wider embedding only costs memory; lower it"),
    "model.pred_hidden_dim": (65536, "a wider predictor only costs memory; lower it"),
    "model.proj_layers": (32, "projectors have 2 or 3 layers; lower it"),
}
# Fields bounded elsewhere (their own range check), or that are not counts.
_OWN_BOUND = {"data.sample_rate", "data.split_seed", "train.seed", "data.num_workers"}
# One training batch (waveforms or images, on the device as float32) may take at most this
# fraction of the machine's memory: the model, the optimiser and the loader's prefetched
# batches need the rest.
BATCH_MEMORY_FRACTION = 0.5
_CUDA = re.compile(r"cuda(:(\d+))?")


def _fail(field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{field}={value!r} is invalid: {allowed}")


def integer_at_most(field: str, value: int, most: int, why: str) -> None:
    """Refuse ``value > most``, saying why that is the limit and what to do."""
    if value > most:
        _fail(field, value, f"must be at most {most}: {why}")


def max_num_workers() -> int:
    """Loader processes per training worker this machine can keep busy: 4 per core, at least 32
    (a small head node must not refuse what a large worker node could run)."""
    return max(32, 4 * (os.cpu_count() or 1))


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX, or the names are unknown
        return None


def check_device(field: str, device: str) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; a CUDA device must exist on this machine.

    Without this every trial would fail on its first tensor and be retried (issue 18, row 4).
    """
    if device in ("auto", "cpu"):
        return
    match = _CUDA.fullmatch(device)
    if match is None:
        _fail(field, device, "must be auto, cpu, cuda or cuda:N with N a GPU index (cuda:0, cuda:1, ...)")
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        _fail(field, device, "no CUDA GPU is visible on this machine (torch.cuda.is_available() is False); "
              "use train.device=auto or cpu")
    index = int(match.group(2) or 0)
    if index >= count:
        _fail(field, device, f"this machine has {count} visible GPU(s), cuda:0 to cuda:{count - 1}; "
              "use one of those, or train.device=auto")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder_setting(field: str, value: str | None, other: str = "") -> None:
    """A folder setting must name a folder, or a place where one can be created.

    Refused with the path: an existing file (``data.cache_dir=notes.txt``), a file on the way
    (``a_file/sub``), and a virtual file system that holds no files (``/proc/nope``, which even
    root cannot create). Nothing is created here: validation has no side effects.
    """
    if value is None or not value.strip():
        return
    fix = f"point {field} at a folder{other}"
    if "\x00" in value:  # the OS refuses such a name only when the folder is made, mid-run
        _fail(field, value, f"a path cannot hold a NUL character; {fix}")
    try:
        _check_folder(field, value, fix)
    except OSError as err:  # a name too long, a NUL byte, a permission denied on the way
        _fail(field, value, f"cannot be used as a folder ({err.strerror or err}); {fix}")


def _check_folder(field: str, value: str, fix: str) -> None:
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            _fail(field, value, f"{path} is a file, not a folder; {fix}")
        return
    ancestor = _nearest_existing(path.absolute())
    if not ancestor.is_dir():
        _fail(field, value, f"{ancestor} is a file, not a folder, so {path} cannot be created; {fix}")
    try:
        virtual = os.statvfs(ancestor).f_blocks == 0  # /proc, /sys: no blocks, no new folders
    except OSError:
        virtual = False
    if virtual or not os.access(ancestor, os.W_OK):
        why = "is a virtual file system" if virtual else "is not writable"
        _fail(field, value, f"{path} cannot be created: {ancestor} {why}; {fix} that can be written")


def check_dims(cfg: Any) -> None:
    """Every integer field below its bound: MAX_OF's, else MAX_COUNT (fields another module adds,
    such as a method's own, are covered too)."""
    for section in dataclasses.fields(cfg):
        values = getattr(cfg, section.name)
        for f in dataclasses.fields(values):
            dotted = f"{section.name}.{f.name}"
            value = getattr(values, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or dotted in _OWN_BOUND:
                continue
            most, why = MAX_OF.get(dotted, (MAX_COUNT, f"far past any useful setting; lower {dotted}"))
            integer_at_most(dotted, value, most, why)


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def check_memory(cfg: Any, fail_across: Callable[..., None]) -> None:
    """One batch (float32 on the device) within BATCH_MEMORY_FRACTION of this machine's memory.

    The config does not say whether the data is audio or images, so both sizes are checked
    with their own fields; each is zero-cost to compute. ``fail_across`` blames the field the
    user set (``ssl_core.config_checks.fail_across``).
    """
    memory = machine_memory_bytes()
    if memory is None:
        return
    d, views = cfg.data, 2 + cfg.augment.num_local_crops
    budget = memory * BATCH_MEMORY_FRACTION
    audio = 4.0 * d.batch_size * d.crops_per_item * d.crop_seconds * d.sample_rate
    if audio > budget:
        fail_across(cfg, ("data.crops_per_item", "data.batch_size", "data.crop_seconds", "data.sample_rate"),
                    f"one batch of data.batch_size={d.batch_size} x data.crops_per_item={d.crops_per_item} crops of "
                    f"data.crop_seconds={d.crop_seconds} s at data.sample_rate={d.sample_rate} Hz takes "
                    f"{_gib(audio)}, more than {BATCH_MEMORY_FRACTION:.0%} of this machine's {_gib(memory)}; lower "
                    "data.crops_per_item, data.batch_size or data.crop_seconds", sentence=True)
    image = 4.0 * d.batch_size * views * 3 * d.image_size**2
    if image > budget:
        fail_across(cfg, ("data.image_size", "data.batch_size", "augment.num_local_crops"),
                    f"one batch of data.batch_size={d.batch_size} x {views} views of 3 x data.image_size="
                    f"{d.image_size} squared takes {_gib(image)}, more than {BATCH_MEMORY_FRACTION:.0%} of this "
                    f"machine's {_gib(memory)}; lower data.image_size, data.batch_size or augment.num_local_crops",
                    sentence=True)
