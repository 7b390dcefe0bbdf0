"""A Tune trial's folder: its number (the order the search started it) and the trainer's run inside it."""

from __future__ import annotations

import re
from pathlib import Path

TRIAL_NUMBER = re.compile(r"_[0-9a-f]{8}_(\d+)(?:_|$)")  # in Tune's trial folder names
TRIAL_RUN_DIR = "ssl"  # <trial>/ssl: the trainer's run folder (checkpoints, TensorBoard) inside a Tune trial


def trial_run_dir(trial_dir: str | Path) -> Path:
    """The trainer's run folder of a Tune trial folder (its layout: ``ssl_core.run``)."""
    return Path(trial_dir) / TRIAL_RUN_DIR


def trial_number(trial_dir_name: str) -> int:
    """Tune's sequence number of a trial (1 for the first it started), from its folder name
    ``<trainable>_<8-hex id>_<n>_<params>_<date>``; it survives retries and ``--resume``."""
    match = TRIAL_NUMBER.search(trial_dir_name)
    if match is None:
        raise ValueError(f"no trial number in the trial folder name {trial_dir_name!r}")
    return int(match.group(1))
