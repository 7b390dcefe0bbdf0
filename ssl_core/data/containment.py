"""A dataset's files stay inside its folder, unless the user says otherwise.

A metadata CSV is data, often downloaded: a BirdCLEF ``train.csv`` row
``beta,[],../../outside/secret.wav`` or a manifest row ``/etc/passwd.wav`` must not make a
run read (and train on, and cache) a file outside the dataset folder. Paths are compared
after resolving ``..`` and symlinks (``os.path.realpath``), so a link inside the folder that
points out of it is outside too. ``data.allow_outside_root=true`` lifts the rule, for a
manifest that deliberately lists files kept elsewhere.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .media import list_some

OPT_IN = "data.allow_outside_root=true"


def is_inside(path: Path | str, root: Path | str) -> bool:
    """Whether ``path`` resolves (``..`` and symlinks followed) to ``root`` or below it."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def check_inside(rows: Sequence[tuple[str, str, Path]], root: Path, where: str, allow: bool) -> None:
    """Refuse the rows whose file resolves outside ``root`` (unless ``allow``).

    rows: ``(row label such as "line 3", the path as written, the path it was joined to)``.
    Raises ValueError naming ``where``, up to five rows with what they resolve to, the count,
    and the two fixes. Every row is checked first, so one run reports them all.
    """
    if allow:
        return
    outside = [f"{label}: {written!r} -> {os.path.realpath(path)}" for label, written, path in rows
               if not is_inside(path, root)]
    if outside:
        raise ValueError(
            f"{where}: {len(outside)} listed file(s) resolve outside the dataset folder {os.path.realpath(root)}: "
            f"{list_some(outside)}. A dataset reads only files inside its folder: move those files into it and "
            f"fix their rows, or set {OPT_IN} if they are meant to be read from there")
