"""Train/val/test splits that never put one recording in two splits.

Crops of one recording share its background noise, microphone and reverb; if one recording fed
both train and test, a model could score well by recognising the recording, not the species.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Mapping

import numpy as np

from .media import list_some
from .records import DatasetIndex

SPLITS = ("train", "val", "test")


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3:
        raise ValueError(f"fractions {fractions} must have 3 entries (train, val, test)")
    if any(not f > 0 for f in fractions):
        raise ValueError(f"fractions {fractions} must all be in (0, 1)")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions {fractions} must sum to 1, got {sum(fractions)}")


def _recording_groups(index: DatasetIndex) -> dict[str, list[int]]:
    """Item indices of each unit that must stay in one split: its group (``data.group_column``,
    e.g. the recordist) when it has one, else its recording. Raises ValueError for a recording
    whose items name different groups (it could not stay whole in one split)."""
    groups: dict[str, list[int]] = defaultdict(list)
    group_of_recording: dict[str, str | None] = {}
    for i, item in enumerate(index.items):
        previous = group_of_recording.setdefault(item.recording, item.group)
        if previous != item.group:
            raise ValueError(f"dataset {index.name!r}: recording {item.recording!r} has items in groups "
                             f"{previous!r} and {item.group!r} (data.group_column); give all its rows one group")
        groups[f"group:{item.group}" if item.group is not None else f"recording:{item.recording}"].append(i)
    return groups


def _recording_label(index: DatasetIndex, members: list[int]) -> int:
    """-1 if any item of the recording is unlabelled, else the majority label of its items
    (ties -> smallest class index)."""
    counts = Counter(index.items[i].label for i in members)
    if -1 in counts:
        return -1
    return min(counts, key=lambda label: (-counts[label], label))


def _class_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Recordings of one class per split: >= 1 in val and test when n >= 3, else all train."""
    if n < 3:
        return n, 0, 0
    n_val = max(1, round(n * fractions[1]))
    n_test = max(1, round(n * fractions[2]))
    # Keep at least one training recording: shrink the larger held-out part first.
    while n - n_val - n_test < 1:
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def split_by_recording(
    index: DatasetIndex,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Stratified split by recording; returns ``{"train"|"val"|"test": sorted item indices}``.

    Each recording takes the majority label of its items and goes wholly into one split. Items
    with a group (``data.group_column``: a recordist, a site, a speaker) split by group instead:
    a group takes the majority label of its items and goes wholly into one split, so the val and
    test scores never rest on a group seen in training.
    Per class, its recordings are shuffled with a generator seeded by ``(seed, class)`` and cut
    by ``fractions`` (rounded, at least one in each of val and test). Classes with fewer than 3
    recordings go entirely to train: with 1 or 2 recordings one cannot have train, val and test
    all non-empty, and a class absent from train cannot be learned by a linear probe or kNN.

    Unlabelled recordings (any item with label -1) all go to train: SSL learns from them, while
    val (the search objective) and test are scored by labels and must hold labelled items only.
    Because each class is seeded on its own, adding or removing unlabelled files never changes
    where the labelled recordings go.
    """
    _check_fractions(tuple(fractions))
    groups = _recording_groups(index)
    by_class: dict[int, list[str]] = defaultdict(list)
    for recording, members in groups.items():
        by_class[_recording_label(index, members)].append(recording)
    out: dict[str, list[int]] = {split: [] for split in SPLITS}
    for recording in by_class.pop(-1, []):
        out["train"].extend(groups[recording])
    for label in sorted(by_class):
        # Seed per class: one class's split does not depend on the others.
        rng = np.random.default_rng([seed, label + 1])
        recordings = sorted(by_class[label])
        order = rng.permutation(len(recordings))
        sizes = _class_sizes(len(recordings), tuple(fractions))
        bounds = np.cumsum((0,) + sizes)
        for split, start, stop in zip(SPLITS, bounds[:-1], bounds[1:]):
            for k in order[start:stop]:
                out[split].extend(groups[recordings[k]])
    return {split: np.array(sorted(out[split]), dtype=np.int64) for split in SPLITS}


def split_by_fold(index: DatasetIndex, fold_map: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Split by the items' ``fold`` column, e.g. ``{"0": "train", "1": "val", "2": "test"}``.

    Every fold value present must be mapped (missing folds show as ``None``), except that
    unlabelled items without a fold go to train (SSL data). A recording whose items span two
    splits is refused, and so is an unlabelled item whose fold maps to val or test: those splits
    are scored by labels.
    """
    bad_targets = {k: v for k, v in fold_map.items() if v not in SPLITS}
    if bad_targets:
        raise ValueError(f"fold_map targets {bad_targets} must be one of {SPLITS}")
    present = {item.fold for item in index.items if not (item.fold is None and item.label < 0)}
    unmapped = sorted((str(f) for f in present if f is None or f not in fold_map))
    if unmapped:
        raise ValueError(
            f"dataset {index.name!r}: fold value(s) {unmapped} are not in fold_map {dict(fold_map)}"
        )
    out: dict[str, list[int]] = {split: [] for split in SPLITS}
    split_of_recording: dict[str, str] = {}
    unlabelled_held_out = []
    for i, item in enumerate(index.items):
        split = "train" if item.fold is None else fold_map[item.fold]
        if item.label < 0 and split != "train":
            unlabelled_held_out.append(f"{item.path} (fold {item.fold!r} -> {split})")
            continue
        previous = split_of_recording.setdefault(item.recording, split)
        if previous != split:
            raise ValueError(
                f"recording {item.recording!r} has items in both {previous!r} and {split!r}"
            )
        out[split].append(i)
    if unlabelled_held_out:
        raise ValueError(
            f"dataset {index.name!r}: {len(unlabelled_held_out)} unlabelled item(s) fall in val or test, "
            f"which are scored by labels: {list_some(unlabelled_held_out)}; leave their fold empty or "
            "map it to train"
        )
    return {split: np.array(out[split], dtype=np.int64) for split in SPLITS}


def keep_label_fraction(index: DatasetIndex, splits: Mapping[str, np.ndarray], fraction: float,
                        seed: int = 0, keep_unlabelled: bool = True) -> dict[str, np.ndarray]:
    """The splits with only ``fraction`` of the train split's labelled recordings left in train.

    Per class, its train recordings (or groups) are shuffled by a generator seeded by
    ``(seed, class)`` and the first ``max(1, round(fraction * n))`` kept: stratified, at least
    one per class (a class with no training item cannot be learned), and nested (the 1 % subset
    lies inside the 10 % one with the same seed, so a label-efficiency curve adds labels rather
    than drawing new ones). The other labelled recordings leave the train split. Unlabelled
    recordings stay (SSL trains on them) unless ``keep_unlabelled`` is false: a method that
    trains on labels trains on the labelled part. Val and test are unchanged, so every fraction
    is scored on the same items.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction {fraction} must be in (0, 1]")
    out = {split: np.asarray(ids, dtype=np.int64) for split, ids in splits.items()}
    if fraction == 1 and keep_unlabelled:
        return out
    train = set(out["train"].tolist())
    groups = {name: [i for i in members if i in train] for name, members in _recording_groups(index).items()}
    groups = {name: members for name, members in groups.items() if members}
    by_class: dict[int, list[str]] = defaultdict(list)
    for name, members in groups.items():
        by_class[_recording_label(index, members)].append(name)
    unlabelled = by_class.pop(-1, [])
    kept: list[int] = [i for name in unlabelled for i in groups[name]] if keep_unlabelled else []
    for label in sorted(by_class):
        names = sorted(by_class[label])
        order = np.random.default_rng([seed, label + 1, 17]).permutation(len(names))  # 17: not the split's stream
        for k in order[:max(1, round(fraction * len(names)))] if fraction < 1 else order:
            kept.extend(groups[names[k]])
    out["train"] = np.array(sorted(kept), dtype=np.int64)
    return out
