"""Reader for a CSV manifest: one row per audio file or image.

Columns: ``path`` (or ``image``, the name used by the clothing-dataset course's
``images.csv``), ``label``, and optionally ``fold`` and ``recording``; other columns are ignored.

- ``path``: relative to the CSV's folder, or absolute. A relative path must resolve inside the
  dataset folder (no ``../`` out of it, no symlink pointing out) unless
  ``data.allow_outside_root``; an absolute path is read where it points. A path without an extension (the
  clothing dataset stores image ids) is looked up as ``<id>.png|.jpg|.jpeg|.webp`` next to the
  CSV and then under ``images/``.
- ``label``: any text; an empty cell marks an unlabelled file (label -1), used by SSL training
  only. Class names come from the labelled rows.
- ``fold``: any text, mapped to train / val / test by ``split_by_fold`` (``data.fold_map``).
- ``recording``: groups rows cut from one source recording so splits keep them together;
  empty or absent: each file is its own recording (its path as written).

The modality (audio or image) comes from the files' extensions (see ``media.py``).
"""
from __future__ import annotations

import os
from pathlib import Path, PurePath

from .containment import check_inside
from .csv_table import read_csv_rows
from .media import EXTENSIONS, IMAGE_EXTENSIONS, check_unique, detect_modality, report_missing
from .records import MODALITIES, DatasetIndex, Item, sorted_class_names

PATH_COLUMNS = ("path", "image")
# Where an extension-less image id is looked for, relative to the CSV's folder.
ID_FOLDERS = (".", "images")
_FIRST_ROW_LINE = 2  # the header is line 1 of the file


def _resolve(base: Path, cell: str) -> tuple[Path, bool]:
    """(absolute normalised path, whether it exists) of one ``path`` cell.

    normpath so that ``./a.png`` and ``a.png`` are recognised as the same file.
    """
    given = Path(cell).expanduser()
    full = Path(os.path.normpath(given if given.is_absolute() else base / given))
    if full.suffix:
        return full, full.is_file()
    candidates = [Path(os.path.normpath(base / folder / (cell + ext)))
                  for folder in ID_FOLDERS for ext in IMAGE_EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate, True
    return candidates[0], False


def load_manifest(
    csv_path: Path, name: str = "manifest", modality: str | None = None, format_name: str | None = None,
    root: Path | None = None, allow_outside_root: bool = False, group_column: str | None = None,
) -> DatasetIndex:
    """Index the files listed in ``csv_path`` (see the module docstring for the columns).

    modality: None detects it from the extensions; ``"audio"`` or ``"image"`` also requires it
    (``format_name``, e.g. ``"image_csv"``, is named in that error). Raises ValueError naming the
    CSV for: missing columns, no rows, empty path cells, files that resolve outside ``root``
    (the dataset folder; default the CSV's folder) unless ``allow_outside_root``, unusable
    extensions, audio mixed with images, files that do not exist (up to 5 listed, and the
    count) and a file listed twice.
    """
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality {modality!r} is not one of {MODALITIES} (or None to detect it)")
    csv_path = Path(csv_path).expanduser().resolve()
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: not found; expected a CSV with columns path|image,label[,fold]")
    header, rows = read_csv_rows(csv_path, [PATH_COLUMNS, "label", *([group_column] if group_column else [])])
    if not rows:
        raise ValueError(f"{csv_path}: no rows under the header; a dataset needs at least one file")
    path_column = next(column for column in PATH_COLUMNS if column in header)
    base = csv_path.parent
    cells = [row[path_column].strip() for row in rows]
    empty = [line for line, cell in enumerate(cells, start=_FIRST_ROW_LINE) if not cell]
    if empty:
        raise ValueError(f"{csv_path}: empty {path_column!r} on line(s) {empty[:5]} ({len(empty)} in all)")
    resolved = [_resolve(base, cell) for cell in cells]
    paths = [path for path, _ in resolved]
    # A relative path must stay inside the dataset folder (no ``..`` out of it, no symlink out);
    # an absolute path is the manifest author's explicit choice, read where it points.
    listed = [(f"line {line}", cell, path) for line, (cell, path) in enumerate(zip(cells, paths), _FIRST_ROW_LINE)
              if not Path(cell).expanduser().is_absolute()]
    check_inside(listed, base if root is None else Path(root), str(csv_path), allow_outside_root)
    found = detect_modality(paths, str(csv_path))
    if modality is not None and found != modality:
        example = paths[0]
        raise ValueError(
            f"{csv_path}: format {format_name or modality!r} expects {modality} files {EXTENSIONS[modality]} "
            f"but the manifest lists {found} files (e.g. {example}); set data.format to "
            f"{found}_csv or auto"
        )
    missing = [cell if PurePath(cell).suffix else f"{cell} (as {cell}{'|'.join(IMAGE_EXTENSIONS)} in "
               f"{' or '.join(ID_FOLDERS)})" for cell, (_, exists) in zip(cells, resolved) if not exists]
    report_missing(missing, len(rows), str(csv_path), base)
    check_unique(paths, str(csv_path), first_line=_FIRST_ROW_LINE)

    labels = [row["label"].strip() for row in rows]
    class_names = sorted_class_names({label for label in labels if label})
    class_of = {label: i for i, label in enumerate(class_names)}
    items = []
    for row, cell, path, label in zip(rows, cells, paths, labels):
        recording = (row.get("recording") or "").strip() or PurePath(os.path.normpath(cell)).as_posix()
        items.append(Item(path=path, label=class_of[label] if label else -1, recording=recording,
                          fold=(row.get("fold") or "").strip() or None,
                          group=(row[group_column].strip() or None) if group_column else None))
    return DatasetIndex(name=name, modality=found, root=base, items=tuple(items), class_names=class_names)
