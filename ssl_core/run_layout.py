"""The layout of a run folder; :mod:`ssl_core.run` explains it and rebuilds runs from it."""

from __future__ import annotations

from pathlib import Path

CHECKPOINTS_DIR = "checkpoints"
BEST_CHECKPOINT = "best"
TENSORBOARD_DIR = "tensorboard"


def checkpoints_dir(run_dir: str | Path) -> Path:
    """``<run>/checkpoints``: the periodic checkpoints and ``best``."""
    return Path(run_dir) / CHECKPOINTS_DIR


def epoch_checkpoint(run_dir: str | Path, epoch: int) -> Path:
    """``<run>/checkpoints/epoch_NNNN``: the checkpoint written after ``epoch`` epochs."""
    return checkpoints_dir(run_dir) / f"epoch_{epoch:04d}"


def best_checkpoint(run_dir: str | Path) -> Path:
    """``<run>/checkpoints/best``: the checkpoint of the run's best objective (may not exist yet)."""
    return checkpoints_dir(run_dir) / BEST_CHECKPOINT


def tensorboard_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / TENSORBOARD_DIR
