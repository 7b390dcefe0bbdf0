"""data.group_column: every group (a recordist, a site) stays in one split, read from a real CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssl_core.config import load_config
from ssl_core.data import DatasetIndex, Item, load_dataset, split_by_recording
from ssl_core.data_pipeline import load_and_split
from tests.format_files import write_audio, write_csv


def _grouped_index(groups_per_class: int = 6, recordings_per_group: int = 3) -> DatasetIndex:
    items = []
    for label in range(3):
        for g in range(groups_per_class):
            for r in range(recordings_per_group):
                items.append(Item(Path(f"/d/{label}_{g}_{r}.ogg"), label, f"{label}_{g}_{r}", group=f"author{label}_{g}"))
    return DatasetIndex("grouped", "audio", Path("/d"), tuple(items), ("a", "b", "c"))


def _group_splits(index: DatasetIndex, splits: dict[str, np.ndarray]) -> dict[str, set[str]]:
    return {name: {index.items[i].group for i in ids} for name, ids in splits.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_group_lies_in_one_split_and_every_split_has_each_class(seed: int) -> None:
    index = _grouped_index()
    splits = split_by_recording(index, seed=seed)
    by_split = _group_splits(index, splits)
    assert not (by_split["train"] & by_split["val"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["val"] & by_split["test"])
    assert sum(len(ids) for ids in splits.values()) == len(index)
    for name in ("val", "test"):
        assert {index.items[i].label for i in splits[name]} == {0, 1, 2}


def test_without_groups_the_split_is_the_recording_split_of_before() -> None:
    grouped = _grouped_index()
    plain = DatasetIndex("plain", "audio", Path("/d"), tuple(Item(i.path, i.label, i.recording) for i in grouped.items),
                         grouped.class_names)
    splits = split_by_recording(plain, seed=3)
    # One recording per unit: the result equals splitting by recording name (as before groups existed).
    assert sum(len(v) for v in splits.values()) == len(plain)
    recordings = {name: {plain.items[i].recording for i in ids} for name, ids in splits.items()}
    assert not (recordings["train"] & recordings["test"])


def test_a_recording_in_two_groups_is_refused() -> None:
    items = (Item(Path("/d/a1.ogg"), 0, "rec", group="x"), Item(Path("/d/a2.ogg"), 0, "rec", group="y"))
    with pytest.raises(ValueError, match="recording 'rec' has items in groups 'x' and 'y'"):
        split_by_recording(DatasetIndex("bad", "audio", Path("/d"), items, ("a",)))


def _birdclef_folder(root: Path) -> Path:
    rows = []
    for label in ("alpha", "beta"):
        for author in range(4):
            for r in range(2):
                name = f"{label}/{label}{author}{r}.wav"
                write_audio(root / "train_audio" / name, seed=author * 10 + r)
                rows.append([label, "[]", name, f"{label}-author{author}"])
    write_csv(root / "train.csv", ["primary_label", "secondary_labels", "filename", "author"], rows)
    return root


def test_birdclef_author_column_through_the_config(tmp_path: Path) -> None:
    root = _birdclef_folder(tmp_path / "birds")
    index = load_dataset(str(root), group_column="author")
    assert {item.group for item in index.items} == {f"{l}-author{a}" for l in ("alpha", "beta") for a in range(4)}
    cfg = load_config(None, [f"data.dataset={root}", "data.group_column=author", f"data.cache_dir={tmp_path / 'c'}",
                             "data.num_workers=0"])
    index, splits = load_and_split(cfg)
    by_split = _group_splits(index, splits)
    assert not (by_split["train"] & (by_split["val"] | by_split["test"])) and by_split["val"] and by_split["test"]


def test_a_missing_group_column_and_class_folders_are_refused(tmp_path: Path) -> None:
    root = _birdclef_folder(tmp_path / "birds")
    with pytest.raises(ValueError, match="recordist"):
        load_dataset(str(root), group_column="recordist")
    folders = tmp_path / "folders"
    for label in ("a", "b"):
        write_audio(folders / label / "x.wav")
    with pytest.raises(ValueError, match="data.group_column='author'.*class folders"):
        load_dataset(str(folders), group_column="author")
