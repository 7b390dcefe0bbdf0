"""A training budget in the units that matter: optimiser steps and samples seen, not just epochs.

An epoch of a small data set is a tiny budget: the embedded birdsong's 314 train recordings make
4 steps of 64, so a 6-epoch trial is 24 optimiser steps. What a run learns depends on the steps
(and the samples they see), so ``--dry-run`` and the trainer's first line state those.
``data.windows_per_epoch`` visits each recording several times an epoch, one random window each.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssl_core.config import Config


@dataclass(frozen=True)
class Budget:
    items: int  # training recordings or images
    windows: int  # visits of each an epoch (data.windows_per_epoch)
    batch: int  # global batch
    steps_per_epoch: int
    epochs: int

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def samples(self) -> int:
        return self.steps * self.batch

    def describe(self) -> str:
        """E.g. ``6 epochs x 4 steps of 64 (314 items x 1 window an epoch) = 24 optimiser steps, 1,536 samples``."""
        windows = f"{self.windows} window{'s' if self.windows != 1 else ''}"
        return (f"{self.epochs} epochs x {self.steps_per_epoch} steps of {self.batch} ({self.items} items x "
                f"{windows} an epoch) = {self.steps:,} optimiser steps, {self.samples:,} samples")


def steps_per_epoch(cfg: Config, train_items: int, world_size: int = 1) -> int:
    """Optimiser steps in one epoch: every rank's share of ``train_items x data.windows_per_epoch``
    visits (padded to a multiple of ``world_size``) in whole local batches, capped by
    ``train.max_steps_per_epoch``. The trainer's data pipeline uses this very function."""
    positions = train_items * cfg.data.windows_per_epoch
    per_rank = -(-positions // world_size)  # the sampler pads by wrapping round
    steps = per_rank // (cfg.data.batch_size // world_size)
    if cfg.train.max_steps_per_epoch:
        steps = min(steps, cfg.train.max_steps_per_epoch)
    return steps


def training_budget(cfg: Config, train_items: int, epochs: int | None = None, world_size: int = 1) -> Budget:
    """The budget of ``cfg`` on a train split of ``train_items`` (``epochs``: default ``train.epochs``)."""
    return Budget(items=train_items, windows=cfg.data.windows_per_epoch, batch=cfg.data.batch_size,
                  steps_per_epoch=steps_per_epoch(cfg, train_items, world_size),
                  epochs=cfg.train.epochs if epochs is None else epochs)
