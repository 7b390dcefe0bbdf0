"""A run's budget in optimiser steps and samples: the same count the trainer runs, stated up front."""
from __future__ import annotations

import math

import pytest
import torch

from ssl_core.budget import steps_per_epoch, training_budget
from ssl_core.config import load_config
from ssl_core.data import EpochSampler


@pytest.mark.parametrize("items,windows,batch,world", [(314, 1, 64, 1), (314, 4, 64, 1), (101, 3, 16, 2),
                                                       (7, 1, 8, 1), (1000, 2, 96, 3)])
def test_steps_are_the_samplers_whole_batches(items: int, windows: int, batch: int, world: int) -> None:
    """Independent count: each rank's sampler length (what the loader iterates) over its local batch."""
    cfg = load_config(None, [f"data.batch_size={batch}", f"data.windows_per_epoch={windows}"])
    sampler = EpochSampler(items, seed=0, rank=world - 1, world_size=world, repeats=windows)
    assert steps_per_epoch(cfg, items, world) == len(sampler) // (batch // world)
    assert steps_per_epoch(cfg, items, world) == math.ceil(items * windows / world) // (batch // world)


def test_the_budget_line_counts_steps_and_samples() -> None:
    cfg = load_config(None, ["train.epochs=6", "data.windows_per_epoch=2"])
    budget = training_budget(cfg, 314)
    assert (budget.steps_per_epoch, budget.steps, budget.samples) == (9, 54, 54 * 64)
    assert budget.describe() == ("6 epochs x 9 steps of 64 (314 items x 2 windows an epoch) = 54 optimiser "
                                 "steps, 3,456 samples")
    capped = training_budget(load_config(None, ["train.max_steps_per_epoch=3"]), 314, epochs=10)
    assert capped.steps == 30


def test_the_trainer_runs_the_budget_it_states(birdsong_root, capsys) -> None:
    from ssl_core.data_pipeline import build_data

    cfg = load_config(None, ["data.num_workers=0", "data.windows_per_epoch=3", "data.batch_size=32"])
    data = build_data(cfg, 0, 1, torch.device("cpu"))
    try:
        out = capsys.readouterr().out
        stated = training_budget(cfg, len(data.splits["train"]))
        assert f"budget: {stated.describe()}" in out
        assert data.steps_per_epoch == stated.steps_per_epoch
        assert sum(1 for _ in data.train_batches.epoch(0)) == stated.steps_per_epoch
    finally:
        data.train_batches.close()


def test_dry_run_states_each_trials_budget(tmp_path, birdsong_root, capsys) -> None:
    import launch

    code = launch.main(["--space", "simclr_temp", "--dry-run", "--storage", str(tmp_path / "runs"),
                        "--override", "data.windows_per_epoch=2"])
    out = capsys.readouterr().out
    assert code == 0
    assert ("budget per trial: 4 epochs x 9 steps of 64 (314 items x 2 windows an epoch) = 36 optimiser steps, "
            "2,304 samples") in out
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing
