"""Reading a metadata CSV and checking its columns, shared by the dataset readers.

Every way a CSV can be unreadable ends in a ValueError that names the file (and the line
where there is one) and the fix, never in a ``UnicodeDecodeError`` or ``_csv.Error``
traceback: a file saved as Latin-1 or UTF-16, a cell longer than the csv module's field
limit (131,072 characters: usually an unclosed quote that swallowed the rest of the file),
and a NUL character (a binary file, or one that would make a phantom class ``'a\\x00'``).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

SAVE_AS = "save it as UTF-8 CSV (e.g. LibreOffice: Save As, Text CSV, character set UTF-8)"


def _check_header(path: Path, header: list[str], required: Sequence[str | tuple[str, ...]]) -> None:
    missing = []
    for column in required:
        options = (column,) if isinstance(column, str) else column
        if not any(option in header for option in options):
            missing.append(" or ".join(repr(option) for option in options))
    if missing:
        needed = ", ".join(" or ".join(repr(o) for o in ((c,) if isinstance(c, str) else c)) for c in required)
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; found columns {header}; "
            f"needed: {needed}. Rename the header row's columns to match."
        )


def _no_nul(path: Path, line: int, row: dict[str, str]) -> None:
    for column, cell in row.items():
        if "\x00" in cell:
            raise ValueError(f"{path}:{line}: column {column!r} holds a NUL character ({cell[:40]!r}); a CSV is "
                             f"text and a label or path never holds one. Remove it, or if the file is binary or "
                             f"UTF-16, {SAVE_AS}")


def _first_bad_byte(path: Path) -> str:
    """Where the first byte that is not UTF-8 sits, in the whole file (the decoder that failed
    saw one chunk, so its offset is not the file's)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        return f"byte 0x{raw[err.start:err.start + 1].hex()} at offset {err.start}, line {line}"
    return "a byte that is not UTF-8"


def read_csv_rows(path: Path, required: Sequence[str | tuple[str, ...]]) -> tuple[list[str], list[dict[str, str]]]:
    """Read ``path`` as a CSV with a header row; return (header, rows as dicts).

    ``required`` lists columns that must exist; a tuple entry means "one of these". Raises
    ValueError naming the file, the columns found and the ones needed, so a wrong CSV fails at
    load time rather than with a KeyError deep in a training run; and naming the file (and
    line) for text that is not UTF-8, a cell over the csv field limit and a NUL character
    (module docstring). ``utf-8-sig`` because a CSV saved by Excel starts with a byte-order
    mark that would otherwise glue itself to the first column name (``'\\ufeffpath'``) and make
    a correct header look wrong.
    """
    rows: list[dict[str, str]] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            header = [name.strip() for name in (reader.fieldnames or [])]
            reader.fieldnames = header
            _no_nul(path, 1, dict(zip(header, header)))
            _check_header(path, header, required)
            for row in reader:
                # A row with more cells than the header puts the surplus under the key None: drop it.
                cells = {k: (v or "") for k, v in row.items() if k is not None}
                _no_nul(path, reader.line_num, cells)
                rows.append(cells)
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text ({_first_bad_byte(path)}); {SAVE_AS}") from None
        except csv.Error as err:
            if "field limit" not in str(err):
                raise ValueError(f"{path}:{reader.line_num}: not a readable CSV line ({err}); fix that line") from None
            raise ValueError(f"{path}:{reader.line_num}: a cell is longer than the csv module's limit of "
                             f"{csv.field_size_limit():,} characters ({err}); this is usually a quote (\") "
                             f"that is never closed, so the rest of the file became one cell. Close or remove "
                             f"it (each quoted cell needs a closing quote)") from None
    return header, rows
