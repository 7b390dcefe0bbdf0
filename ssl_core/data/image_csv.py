"""Reader for an image folder described by a CSV (columns ``image`` or ``path``, ``label``,
optional ``fold``)."""
from __future__ import annotations

from pathlib import Path

from .csv_table import read_csv_rows
from .records import DatasetIndex, Item


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


def load_image_csv(root: Path, csv_name: str = "images.csv", name: str = "images") -> DatasetIndex:
    """Index images listed in ``root/csv_name``; paths are relative to ``root``.

    An empty ``label`` cell marks an unlabelled image (label -1). recording id: the image path
    (each image is its own source). fold: the ``fold`` cell as a string, or None.
    """
    root = Path(root).expanduser().resolve()
    csv_path = root / csv_name
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: not found; expected a CSV with columns image|path,label[,fold]")
    header, rows = read_csv_rows(csv_path, [("image", "path"), "label"])
    if not rows:
        raise ValueError(f"{csv_path}: no rows")
    path_column = "image" if "image" in header else "path"
    labels = [row["label"].strip() for row in rows]
    class_names = sorted_class_names({label for label in labels if label})
    class_of = {label: i for i, label in enumerate(class_names)}
    items = []
    for line, (row, label) in enumerate(zip(rows, labels), start=2):
        relative = row[path_column].strip()
        if not relative:
            raise ValueError(f"{csv_path}:{line}: empty {path_column!r}")
        items.append(
            Item(
                path=root / relative,
                label=class_of[label] if label else -1,
                recording=relative,
                fold=(row.get("fold") or "").strip() or None,
            )
        )
    return DatasetIndex(name=name, modality="image", root=root, items=tuple(items), class_names=class_names)
