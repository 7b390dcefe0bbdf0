"""A trained run's home: the layout of its folder, and the one way to rebuild it from a checkpoint.

A run folder (``train.output_dir``, or ``<trial>/ssl`` in a search) holds::

    checkpoints/epoch_NNNN/   periodic checkpoints (the newest ``train.keep_checkpoints``)
    checkpoints/best/         the evaluation with the best objective (``eval.objective``), after epoch 0
    tensorboard/              the trainer's scalars

and each checkpoint holds the files named in :mod:`ssl_core.checkpoint` (weights and state,
and the run's config). :func:`load_run` is the only code that turns a checkpoint back into a
config, its data and its trained model: the test report, the figures, the Projector and the
exported backbone all start from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
import yaml

from ssl_core.checkpoint import CONFIG_FILE, read_checkpoint
from ssl_core.config import Config, config_from_dict, parse_override, set_value
# The layout is in its own small module so the trainer can write it without importing this one.
from ssl_core.run_layout import (BEST_CHECKPOINT, CHECKPOINTS_DIR, TENSORBOARD_DIR, best_checkpoint,  # noqa: F401
                                 checkpoints_dir, epoch_checkpoint, tensorboard_dir)

if TYPE_CHECKING:
    from ssl_core.data_pipeline import DataBundle
    from ssl_core.methods import Method

def read_saved_config(path: Path) -> Config:
    """A run config the project wrote (a checkpoint's ``config.yaml``, a search's ``best_config.yaml``),
    validated, with fields added since it was written set to what the run was trained with."""
    raw = yaml.safe_load(path.read_text())
    if isinstance(raw, dict) and isinstance(raw.get("model"), dict) and "global_pool" not in raw["model"]:
        # Saved before model.global_pool existed: such a run pooled as its timm model does by
        # default, and is rebuilt that way ("auto" would pool audio differently).
        raw["model"]["global_pool"] = "timm"
    return config_from_dict(raw).validate()


def read_run_config(checkpoint_dir: str | Path) -> Config:
    """The validated config a checkpoint was trained with."""
    path = Path(checkpoint_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no run config at {path}: expected a checkpoint folder written by the trainer")
    return read_saved_config(path)


def read_run_config_dict(checkpoint_dir: str | Path) -> dict[str, Any]:
    """The checkpoint's config as a plain mapping (the search writes the best trial's beside its summary)."""
    return read_run_config(checkpoint_dir).to_dict()


@dataclass
class LoadedRun:
    """A trained run rebuilt from one checkpoint, ready to embed (model in eval mode)."""

    cfg: Config  # the run's config; ``data.num_workers`` 0, ``train.compile`` off, placement "loader" (one pass)
    data: "DataBundle"  # its data set, splits, loaders and view maker, on ``device``
    method: "Method"  # the trained method (backbone + heads) with the checkpoint's weights
    epoch: int  # epochs trained when the checkpoint was written
    metrics: dict[str, float]  # the evaluation stored with the checkpoint (val split)
    device: torch.device
    checkpoint_dir: Path
    trained: bool = True  # False: the checkpoint's network before training (``load_run(trained=False)``)


def load_run(checkpoint_dir: str | Path, device: str | torch.device | None = None,
             trained: bool = True, overrides: Sequence[str] = ()) -> LoadedRun:
    """Rebuild the run of ``checkpoint_dir`` exactly as the trainer built it, with its weights.

    Args:
        checkpoint_dir: a trainer checkpoint folder, e.g. ``<run>/checkpoints/best``.
        device: where to put the model and the view maker; None: the run's training device
            (``train.device``: CUDA where there is one), so a report on a GPU workstation
            embeds on the GPU.
        trained: False keeps the weights the trainer started from (same seed, same order of
            construction): the untrained baseline of the same run.
        overrides: ``key=value`` changes to the stored config, for settings that do not change
            the weights (``eval.*``, ``data.eval_windows``): the same network evaluated another way.

    The global RNG is seeded with ``train.seed`` first: the view maker draws augmentations
    from it (``align``, the view pairs), so every report of the same checkpoint is the same.
    """
    from ssl_core.data_pipeline import build_data  # the heavy parts: data sets, methods, timm
    from ssl_core.trainer import build_model, resolve_device

    checkpoint_dir = Path(checkpoint_dir)
    cfg = read_run_config(checkpoint_dir)
    for text in overrides:
        set_value(cfg, *parse_override(text))
    cfg.validate()
    cfg.data.num_workers = 0  # one pass over a split: loader processes would cost more than they save
    cfg.train.compile = False  # compiling pays over many steps, not for one evaluation
    cfg.data.placement = "loader"  # a report trains nothing: no decoded split copied onto the device
    device = resolve_device(cfg) if device is None else torch.device(device)
    state = read_checkpoint(checkpoint_dir, map_location=device)
    torch.manual_seed(cfg.train.seed)
    data = build_data(cfg, 0, 1, device, announce=False)
    method = build_model(cfg, data, device)
    if trained:
        method.load_state_dict(state["model"])
    method.eval()
    return LoadedRun(cfg=cfg, data=data, method=method, epoch=int(state["epoch"]) if trained else 0,
                     metrics=dict(state.get("metrics") or {}), device=device, checkpoint_dir=checkpoint_dir,
                     trained=trained)
