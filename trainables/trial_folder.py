"""A Tune trial's folder: its number (the order the search started it) and the trainer's run inside it."""

from __future__ import annotations

import re
from pathlib import Path

# Tune names a trial folder ``<trainable>_<trial id>_<n>_<params>_<date>``. With a searcher
# (Optuna) the id is 8 hex digits and ``n`` counts from 1; with Tune's own variant generator
# (no searcher: grid or a plain Tuner) the id is ``<5 hex>_<5-digit index>`` and ``n``, like the
# index, counts from 0.
SEARCHER_TRIAL = re.compile(r"_[0-9a-f]{8}_(\d+)(?:_|$)")
VARIANT_TRIAL = re.compile(r"_[0-9a-f]{5}_(\d{5})_\d+(?:_|$)")
TRIAL_RUN_DIR = "ssl"  # <trial>/ssl: the trainer's run folder (checkpoints, TensorBoard) inside a Tune trial


def trial_run_dir(trial_dir: str | Path) -> Path:
    """The trainer's run folder of a Tune trial folder (its layout: ``ssl_core.run``)."""
    return Path(trial_dir) / TRIAL_RUN_DIR


def trial_number(trial_dir_name: str) -> int:
    """Tune's sequence number of a trial (1 for the first it started), from its folder name
    (both of Tune's namings, above); it survives retries and ``--resume``."""
    match = SEARCHER_TRIAL.search(trial_dir_name)
    if match is not None:
        return int(match.group(1))
    match = VARIANT_TRIAL.search(trial_dir_name)
    if match is not None:
        return int(match.group(1)) + 1
    raise ValueError(f"no trial number in the trial folder name {trial_dir_name!r}")
