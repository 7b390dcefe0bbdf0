"""Reader for the BirdCLEF layouts of 2021-2025: a metadata CSV next to an audio folder.

- 2022-2025: ``train_metadata.csv`` (2025: ``train.csv``) and ``train_audio/<label>/<id>.ogg``;
  ``filename`` holds ``<label>/<id>.ogg``.
- 2021: ``train_metadata.csv`` and ``train_short_audio/<label>/<id>.ogg``; ``filename`` holds
  only ``<id>.ogg``, so the file is looked for under its ``primary_label`` folder.

Columns used: ``primary_label``, ``secondary_labels`` (a Python-list string such as
``"['amerob', 'norcar']"`` or ``"[]"``), ``filename`` and, if present, ``fold``. Other columns
(rating, type, coordinates, ...) are ignored.
"""
from __future__ import annotations

import ast
from pathlib import Path

from .containment import check_inside
from .csv_table import read_csv_rows
from .media import check_files_exist, check_unique
from .records import DatasetIndex, Item

CSV_NAMES = ("train.csv", "train_metadata.csv")
AUDIO_DIRS = ("train_audio", "train_short_audio")  # 2022-2025, then 2021
AUDIO_DIR = AUDIO_DIRS[0]
REQUIRED_COLUMNS = ("primary_label", "secondary_labels", "filename")
EXPECTED_LAYOUT = (f"{' or '.join(CSV_NAMES)} (columns {', '.join(REQUIRED_COLUMNS)}) next to "
                   f"{'/ or '.join(AUDIO_DIRS)}/")


def find_birdclef_csv(root: Path) -> Path | None:
    """The metadata CSV of a BirdCLEF-style folder, or None."""
    for name in CSV_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def find_birdclef_audio_dir(root: Path) -> Path | None:
    """The audio folder of a BirdCLEF-style folder (``train_audio/``, else 2021's
    ``train_short_audio/``), or None."""
    for name in AUDIO_DIRS:
        if (root / name).is_dir():
            return root / name
    return None


def _audio_path(audio_dir: Path, filename: str, label: str) -> Path:
    """Where a row's file lives: ``<audio_dir>/<filename>`` when the filename carries its label
    folder (2022-2025), else ``<audio_dir>/<primary_label>/<filename>`` (2021), falling back to a
    flat ``<audio_dir>/<filename>`` if only that exists."""
    if "/" in filename:
        return audio_dir / filename
    in_label_folder = audio_dir / label / filename
    flat = audio_dir / filename
    return flat if not in_label_folder.is_file() and flat.is_file() else in_label_folder


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


def load_birdclef(root: Path, name: str = "birdclef", allow_outside_root: bool = False,
                  group_column: str | None = None) -> DatasetIndex:
    """Index a BirdCLEF-style dataset (2021-2025 layouts, see the module docstring).

    class_names: sorted unique primary labels. Secondary labels that are not a primary label of
    some recording are ignored (they have no class index), as is a secondary equal to the
    primary. recording id: the filename stem (BirdCLEF's Xeno-canto / iNat ids are unique).
    Raises FileNotFoundError without the CSV or the audio folder, ValueError for missing
    columns, rows with an empty label or filename, files that resolve outside ``root`` (``..``,
    an absolute path, a symlink out; unless ``allow_outside_root``), files that do not exist (up
    to 5 listed and the count) and a file listed twice.
    """
    root = Path(root).expanduser().resolve()
    csv_path = find_birdclef_csv(root)
    audio_dir = find_birdclef_audio_dir(root)
    if csv_path is None or audio_dir is None:
        raise FileNotFoundError(f"{root}: not a BirdCLEF folder; expected {EXPECTED_LAYOUT}")
    _, rows = read_csv_rows(csv_path, REQUIRED_COLUMNS + ((group_column,) if group_column else ()))
    if not rows:
        raise ValueError(f"{csv_path}: no rows under the header; a dataset needs at least one file")
    class_names = tuple(sorted({row["primary_label"].strip() for row in rows}))
    if "" in class_names:
        raise ValueError(f"{csv_path}: some rows have an empty primary_label")
    class_of = {label: i for i, label in enumerate(class_names)}
    items, placed = [], []
    for line, row in enumerate(rows, start=2):
        where = f"{csv_path}:{line}"
        filename = row["filename"].strip()
        if not filename:
            raise ValueError(f"{where}: empty filename")
        primary = row["primary_label"].strip()
        label = class_of[primary]
        secondary = []
        for code in parse_secondary_labels(row["secondary_labels"], where):
            index = class_of.get(code)
            if index is not None and index != label and index not in secondary:
                secondary.append(index)
        path = _audio_path(audio_dir, filename, primary)
        placed.append((f"line {line}", filename, path))
        items.append(
            Item(
                path=path,
                label=label,
                recording=Path(filename).stem,
                fold=(row.get("fold") or "").strip() or None,
                secondary=tuple(secondary),
                group=(row[group_column].strip() or None) if group_column else None,
            )
        )
    paths = [item.path for item in items]
    # Before any file is looked at: a row must not make the run open a file outside the folder.
    check_inside(placed, root, str(csv_path), allow_outside_root)
    check_files_exist(paths, str(csv_path), audio_dir)
    check_unique(paths, str(csv_path))
    return DatasetIndex(name=name, modality="audio", root=root, items=tuple(items), class_names=class_names)
