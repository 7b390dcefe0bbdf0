"""Reading a metadata CSV and checking its columns, shared by the dataset readers."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence


def read_csv_rows(path: Path, required: Sequence[str | tuple[str, ...]]) -> tuple[list[str], list[dict[str, str]]]:
    """Read ``path`` as a CSV with a header row; return (header, rows as dicts).

    ``required`` lists columns that must exist; a tuple entry means "one of these". Raises
    ValueError naming the file, the columns found and the ones needed, so a wrong CSV fails at
    load time rather than with a KeyError deep in a training run. ``utf-8-sig`` because a CSV
    saved by Excel starts with a byte-order mark that would otherwise glue itself to the first
    column name (``'\\ufeffpath'``) and make a correct header look wrong.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = []
        for column in required:
            options = (column,) if isinstance(column, str) else column
            if not any(option in header for option in options):
                missing.append(" or ".join(repr(option) for option in options))
        if missing:
            needed = ", ".join(
                " or ".join(repr(o) for o in ((c,) if isinstance(c, str) else c)) for c in required
            )
            raise ValueError(
                f"{path}: missing column(s) {', '.join(missing)}; found columns {header}; "
                f"needed: {needed}. Rename the header row's columns to match."
            )
        # A row with more cells than the header puts the surplus under the key None: drop it.
        rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    return header, rows
