"""Reading a metadata CSV and checking its columns, shared by the dataset readers."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence


def read_csv_rows(path: Path, required: Sequence[str | tuple[str, ...]]) -> tuple[list[str], list[dict[str, str]]]:
    """Read ``path`` as a CSV with a header row; return (header, rows as dicts).

    ``required`` lists columns that must exist; a tuple entry means "one of these". Raises
    ValueError naming the file and every missing column, so a wrong CSV fails at load time
    rather than with a KeyError deep in a training run.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = []
        for column in required:
            options = (column,) if isinstance(column, str) else column
            if not any(option in header for option in options):
                missing.append(" or ".join(repr(option) for option in options))
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {', '.join(missing)}; the header has {header}"
            )
        rows = [dict(row) for row in reader]
    return header, rows
