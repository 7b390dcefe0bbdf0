"""Dataset records: what a reader produces and what splits, samplers and datasets consume.

An index is a plain, immutable list of items plus the class vocabulary. The class count is a
property of the *dataset*, never of a split, so a split that happens to miss a rare class still
reports the right number of classes (kNN / linear-probe heads depend on it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

MODALITIES = ("audio", "image")


@dataclass(frozen=True)
class Item:
    """One audio recording or image.

    path: absolute path of the file. label: index into ``DatasetIndex.class_names``, -1 if
    unlabelled. recording: source id; splits never put one recording in two splits.
    fold: the CSV's fold value, if any. secondary: secondary class indices (BirdCLEF).
    group: the value of ``data.group_column`` (a recordist, a site, a speaker), if set: every
    item of one group goes into one split, so a test score never rests on a group seen in training.
    """

    path: Path
    label: int
    recording: str
    fold: str | None = None
    secondary: tuple[int, ...] = ()
    group: str | None = None


@dataclass(frozen=True)
class DatasetIndex:
    """All items of one dataset and its class vocabulary."""

    name: str
    modality: str
    root: Path
    items: tuple[Item, ...]
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality {self.modality!r} is not one of {MODALITIES}")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"dataset {self.name!r}: class_names contain duplicates")
        num_classes = len(self.class_names)
        for item in self.items:
            if not -1 <= item.label < num_classes:
                raise ValueError(
                    f"dataset {self.name!r}: label {item.label} of {item.path} is outside "
                    f"[-1, {num_classes - 1}]"
                )

    @property
    def num_classes(self) -> int:
        """Number of classes of the whole dataset (not of any split)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        """Primary labels, ``[N]`` int64 (-1 for unlabelled items)."""
        return np.fromiter((item.label for item in self.items), dtype=np.int64, count=len(self.items))

    def labelled_indices(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """The given item indices (all items if None) whose label is not -1, ``[M]`` int64, order kept.

        SSL trains on every item of the train split, but kNN banks, probes and class counts
        need labels: this is the subset they may use.
        """
        labels = self.labels()
        chosen = np.arange(len(labels), dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
        return chosen[labels[chosen] >= 0]

    def class_counts(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Items per class, ``[C]`` int64, over all items or the given item indices.

        Unlabelled items (-1) are not counted.
        """
        labels = self.labels()
        if indices is not None:
            labels = labels[np.asarray(indices, dtype=np.int64)]
        labels = labels[labels >= 0]
        return np.bincount(labels, minlength=self.num_classes).astype(np.int64)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def sorted_class_names(labels: set[str]) -> tuple[str, ...]:
    """Sorted as strings, but numerically when every label is an integer ("2" before "10")."""
    if labels and all(_is_int(label) for label in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))
