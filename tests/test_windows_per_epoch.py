"""``data.windows_per_epoch``: every training recording visited r times an epoch, each visit its own window."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from ssl_core.config import ConfigError, load_config
from ssl_core.data import EpochSampler
from ssl_core.data.train_batches import DeviceBatches, LoaderBatches
from ssl_core.data_pipeline import build_data, load_and_split, train_batches

CPU = torch.device("cpu")


@pytest.mark.parametrize("shuffle", [True, False])
def test_one_repeat_is_the_plain_epoch_draw_for_draw(shuffle: bool) -> None:
    """The documented formula, computed here with numpy alone: runs from before this field replay."""
    sampler = EpochSampler(37, seed=5, shuffle=shuffle)
    sampler.set_epoch(3)
    rng = np.random.default_rng([5, 3])
    order = rng.permutation(37) if shuffle else np.arange(37)
    seeds = rng.integers(0, 2**63 - 1, size=37, dtype=np.int64)
    assert list(sampler) == list(zip(order.tolist(), seeds.tolist()))


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_every_item_comes_r_times_with_its_own_seeds(world_size: int) -> None:
    n, repeats = 11, 4
    keys = []
    for rank in range(world_size):
        sampler = EpochSampler(n, seed=0, rank=rank, world_size=world_size, repeats=repeats)
        sampler.set_epoch(1)
        part = list(sampler)
        assert len(part) == len(sampler)
        keys += part
    counts = Counter(item for item, _ in keys)
    padding = len(keys) - n * repeats  # wrap-around padding to a multiple of world_size
    assert 0 <= padding < world_size
    assert set(counts) == set(range(n)) and all(repeats <= c <= repeats + padding for c in counts.values())
    assert len({seed for _, seed in keys[:n * repeats]}) == n * repeats  # distinct windows, not copies


def test_bad_repeats_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats 0 must be >= 1"):
        EpochSampler(3, seed=0, repeats=0)
    with pytest.raises(ConfigError, match="data.windows_per_epoch"):
        load_config(None, ["data.windows_per_epoch=0"])
    with pytest.raises(ConfigError, match="data.windows_per_epoch"):
        load_config(None, ["data.windows_per_epoch=100000"])


def test_device_batches_equal_the_loaders_with_repeats(birdsong_root) -> None:
    cfg = load_config(None, ["data.num_workers=1", "data.crop_seconds=0.5", "data.windows_per_epoch=3"])
    index, splits = load_and_split(cfg)
    sampler = EpochSampler(len(splits["train"]), seed=0, repeats=3)
    made = {}
    for placement in ("device", "loader"):
        cfg.data.placement = placement
        made[placement] = train_batches(cfg, index, splits["train"], sampler, 8, 3, CPU)
    try:
        assert isinstance(made["device"], DeviceBatches) and isinstance(made["loader"], LoaderBatches)
        for epoch in (0, 2):
            a = [(x.clone(), y.clone()) for x, y in made["device"].epoch(epoch)]
            b = [(x.clone(), y.clone()) for x, y in made["loader"].epoch(epoch)]
            assert len(a) == len(b) == 3
            assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    finally:
        for batches in made.values():
            batches.close()


def test_steps_per_epoch_grow_by_the_repeats(birdsong_root) -> None:
    steps = {}
    for repeats in (1, 3):
        cfg = load_config(None, ["data.num_workers=0", f"data.windows_per_epoch={repeats}"])
        data = build_data(cfg, 0, 1, CPU, announce=False)
        steps[repeats] = data.steps_per_epoch
        train = len(data.splits["train"])
        assert steps[repeats] == train * repeats // cfg.data.batch_size
        data.train_batches.close()
    assert steps[3] >= 3 * steps[1]
