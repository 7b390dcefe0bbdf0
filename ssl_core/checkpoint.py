"""Checkpoints: written atomically (a temporary directory, then rename), read with weights_only.

A checkpoint is a directory (``epoch_NNNN/`` or ``best/``, see :mod:`ssl_core.run`) holding
``STATE_FILE`` (model, optimiser, scheduler, RNG states, epoch, the evaluation) and
``CONFIG_FILE`` (the run's config). A directory, because Ray Train checkpoints are
directories; atomic, because a run killed mid-write must never leave a checkpoint that looks
complete but is not.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from ssl_core.atomic import atomic_directory

STATE_FILE = "state.pt"
CONFIG_FILE = "config.yaml"


def write_checkpoint(directory: Path, state: dict[str, Any], config: dict[str, Any],
                     extra: dict[str, Any] | None = None) -> Path:
    """Write ``state`` and ``config`` to ``directory`` atomically; returns ``directory``.

    ``extra``: more files of the same checkpoint, ``{file name: object}`` (``torch.save``d), that
    must never outlive or predate its weights (the kNN bank: :mod:`ssl_core.bank_cache`).
    """
    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        torch.save(state, tmp / STATE_FILE)
        (tmp / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
        for name, value in (extra or {}).items():
            torch.save(value, tmp / name)
    return directory


def read_checkpoint(directory: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load ``state.pt`` with ``weights_only=True``: a checkpoint can never run code."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: expected a directory written by the trainer")
    return torch.load(path, map_location=map_location, weights_only=True)


def list_checkpoints(root: Path) -> list[Path]:
    """Complete periodic checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("epoch_*") if (p / STATE_FILE).is_file())


def prune_checkpoints(root: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` periodic checkpoints (``best/`` is separate)."""
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
