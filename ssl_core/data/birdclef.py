"""Reader for the BirdCLEF layout: ``train.csv`` (or ``train_metadata.csv``) + ``train_audio/``.

Columns used: ``primary_label``, ``secondary_labels`` (a Python-list string such as
``"['amerob', 'norcar']"`` or ``"[]"``) and ``filename`` (relative to ``train_audio/``).
"""
from __future__ import annotations

import ast
from pathlib import Path

from .csv_table import read_csv_rows
from .records import DatasetIndex, Item

CSV_NAMES = ("train.csv", "train_metadata.csv")
AUDIO_DIR = "train_audio"
REQUIRED_COLUMNS = ("primary_label", "secondary_labels", "filename")


def find_birdclef_csv(root: Path) -> Path | None:
    """The metadata CSV of a BirdCLEF-style folder, or None."""
    for name in CSV_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def parse_secondary_labels(text: str, where: str) -> list[str]:
    """Parse ``"['a', 'b']"`` safely (``ast.literal_eval``, never ``eval``); empty cell -> []."""
    text = text.strip()
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"{where}: secondary_labels {text!r} is not a Python list literal") from error
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: secondary_labels {text!r} is not a list of strings")
    return [v.strip() for v in value if v.strip()]


def load_birdclef(root: Path, name: str = "birdclef") -> DatasetIndex:
    """Index a BirdCLEF-style dataset.

    class_names: sorted unique primary labels. Secondary labels that are not a primary label of
    some recording are ignored (they have no class index), as is a secondary equal to the
    primary. recording id: the filename stem (BirdCLEF's Xeno-canto / iNat ids are unique).
    """
    root = Path(root).expanduser().resolve()
    csv_path = find_birdclef_csv(root)
    if csv_path is None:
        raise FileNotFoundError(
            f"{root}: no BirdCLEF metadata found; expected one of {CSV_NAMES} next to {AUDIO_DIR}/"
        )
    _, rows = read_csv_rows(csv_path, REQUIRED_COLUMNS)
    if not rows:
        raise ValueError(f"{csv_path}: no rows")
    class_names = tuple(sorted({row["primary_label"].strip() for row in rows}))
    if "" in class_names:
        raise ValueError(f"{csv_path}: some rows have an empty primary_label")
    class_of = {label: i for i, label in enumerate(class_names)}
    audio_dir = root / AUDIO_DIR
    items = []
    for line, row in enumerate(rows, start=2):
        where = f"{csv_path}:{line}"
        filename = row["filename"].strip()
        if not filename:
            raise ValueError(f"{where}: empty filename")
        label = class_of[row["primary_label"].strip()]
        secondary = []
        for code in parse_secondary_labels(row["secondary_labels"] or "", where):
            index = class_of.get(code)
            if index is not None and index != label and index not in secondary:
                secondary.append(index)
        items.append(
            Item(
                path=audio_dir / filename,
                label=label,
                recording=Path(filename).stem,
                fold=(row.get("fold") or "").strip() or None,
                secondary=tuple(secondary),
            )
        )
    return DatasetIndex(name=name, modality="audio", root=root, items=tuple(items), class_names=class_names)
