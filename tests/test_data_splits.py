"""Splitting a dataset index (by recording, stratified; by fold) and the epoch sampler that
orders and shards each epoch, against counts, sets and numpy's seeded permutation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssl_core.data import (
    DatasetIndex,
    EpochSampler,
    Item,
    split_by_fold,
    split_by_recording,
)

# ---------------------------------------------------------------- splits


def make_index(recordings_per_class: list[int], seed: int = 0) -> DatasetIndex:
    """Classes with the given recording counts; each recording has 1-3 items (crops/segments)."""
    rng = np.random.default_rng(seed)
    items = []
    for label, count in enumerate(recordings_per_class):
        for r in range(count):
            for k in range(int(rng.integers(1, 4))):
                items.append(Item(Path(f"/d/c{label}_r{r}_{k}.ogg"), label, f"c{label}_r{r}"))
    order = rng.permutation(len(items))  # items need not be grouped
    names = tuple(f"c{i}" for i in range(len(recordings_per_class)))
    return DatasetIndex("synthetic", "audio", Path("/d"), tuple(items[i] for i in order), names)


def split_recordings(index: DatasetIndex, split: dict[str, np.ndarray]) -> dict[str, set[str]]:
    return {name: {index.items[i].recording for i in idx} for name, idx in split.items()}


def test_split_by_recording_partition_and_stratification() -> None:
    counts = [1, 2, 3, 4, 10, 40]
    index = make_index(counts)
    split = split_by_recording(index, (0.7, 0.15, 0.15), seed=3)
    all_idx = np.concatenate([split["train"], split["val"], split["test"]])
    assert sorted(all_idx.tolist()) == list(range(len(index.items)))  # a partition of the items
    for idx in split.values():
        assert np.all(np.diff(idx) > 0)  # sorted, no duplicates
    recs = split_recordings(index, split)
    assert not (recs["train"] & recs["val"] or recs["train"] & recs["test"] or recs["val"] & recs["test"])
    labels = index.labels()
    for label, n in enumerate(counts):
        per_split = {s: len({index.items[i].recording for i in idx if labels[i] == label}) for s, idx in split.items()}
        if n >= 3:
            assert per_split["val"] >= 1 and per_split["test"] >= 1 and per_split["train"] >= 1
            # proportional within rounding
            assert abs(per_split["val"] - 0.15 * n) <= 1 and abs(per_split["test"] - 0.15 * n) <= 1
        else:
            assert per_split == {"train": n, "val": 0, "test": 0}
    # num_classes is the dataset's, even where a split misses classes
    assert index.class_counts(split["val"]).shape == (len(counts),)


def test_split_by_recording_deterministic_and_seeded() -> None:
    index = make_index([20, 20, 20])
    a = split_by_recording(index, seed=0)
    b = split_by_recording(index, seed=0)
    c = split_by_recording(index, seed=1)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert not all(np.array_equal(a[s], c[s]) for s in a)


def test_split_by_recording_rejects_bad_fractions() -> None:
    index = make_index([5])
    for bad in [(0.8, 0.2, 0.0), (0.5, 0.3, 0.3), (1.2, -0.1, -0.1), (0.5, 0.5)]:
        with pytest.raises(ValueError, match="fractions"):
            split_by_recording(index, bad)


def test_split_by_fold(tmp_path: Path) -> None:
    items = tuple(Item(Path(f"/i/{k}.png"), k % 2, f"r{k}", fold=str(k % 3)) for k in range(9))
    index = DatasetIndex("f", "image", Path("/i"), items, ("a", "b"))
    split = split_by_fold(index, {"0": "train", "1": "val", "2": "test"})
    assert split["train"].tolist() == [0, 3, 6]
    assert split["val"].tolist() == [1, 4, 7]
    assert split["test"].tolist() == [2, 5, 8]
    merged = split_by_fold(index, {"0": "train", "1": "train", "2": "test"})
    assert merged["train"].tolist() == [0, 1, 3, 4, 6, 7] and merged["val"].size == 0
    with pytest.raises(ValueError, match=r"\['2'\]"):
        split_by_fold(index, {"0": "train", "1": "val"})
    with pytest.raises(ValueError, match="holdout"):
        split_by_fold(index, {"0": "train", "1": "val", "2": "holdout"})
    leaky = items + (Item(Path("/i/x.png"), 0, "r0", fold="1"),)  # recording r0 in folds 0 and 1
    with pytest.raises(ValueError, match="r0"):
        split_by_fold(DatasetIndex("f", "image", Path("/i"), leaky, ("a", "b")), {"0": "train", "1": "val", "2": "test"})


# ---------------------------------------------------------------- sampler


def test_epoch_sampler_matches_spec_and_is_deterministic() -> None:
    sampler = EpochSampler(10, seed=7)
    sampler.set_epoch(3)
    got = list(sampler)
    rng = np.random.default_rng([7, 3])
    expected_order = rng.permutation(10)
    assert [i for i, _ in got] == expected_order.tolist()
    assert len({s for _, s in got}) == 10  # distinct per-sample seeds
    again = EpochSampler(10, seed=7)
    again.set_epoch(3)
    assert list(again) == got
    sampler.set_epoch(4)
    assert [i for i, _ in sampler] != expected_order.tolist()
    assert [i for i, _ in EpochSampler(5, seed=0, shuffle=False)] == [0, 1, 2, 3, 4]


def test_epoch_sampler_sharding() -> None:
    n = 11
    full = {i: s for i, s in EpochSampler(n, seed=1)}
    shards = [list(EpochSampler(n, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 6 == len(EpochSampler(n, seed=1, rank=1, world_size=2))
    assert {i for shard in shards for i, _ in shard} == set(range(n))  # covers all items
    # each item keeps its sample seed whatever the world size (padding repeats one item)
    assert all(full[i] == s for shard in shards for i, s in shard)
    dropped = [list(EpochSampler(n, seed=1, rank=r, world_size=2, drop_last=True)) for r in range(2)]
    assert len(dropped[0]) == len(dropped[1]) == 5
    assert len({i for shard in dropped for i, _ in shard}) == 10
    with pytest.raises(ValueError, match="rank"):
        EpochSampler(n, seed=1, rank=2, world_size=2)
