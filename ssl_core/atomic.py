"""Atomic writes: a reader (or a crash) sees the old file or folder or the new one, never a part.

Every result file, checkpoint, figure, export, decode-cache entry and generated data set goes
through here. A file is written to a hidden temporary sibling, flushed to disk and renamed over
its target (``os.replace`` is atomic within one file system); a folder is built in a hidden
temporary sibling and swapped in the same way. Written by hand because no maintained library
does both (``atomicwrites``, the usual one, is archived and has no folder swap).

Permissions: ``mkstemp``/``mkdtemp`` create private entries (0600 / 0700); results are shared
with the other users and nodes of a storage folder, so files end 0644 and folders 0755.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator

FILE_MODE = 0o644
DIR_MODE = 0o755


@contextlib.contextmanager
def atomic_file(path: str | Path, binary: bool = False, fsync: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on a clean exit it replaces ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. ``fsync``
    flushes the data to disk before the rename (results survive a power cut); caches of
    regenerable content skip it, since thousands of small files would each wait for the disk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_file(path) as handle:
        handle.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_file(path, binary=True) as handle:
        handle.write(data)
    return Path(path)


@contextlib.contextmanager
def atomic_directory(target: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on a clean exit it becomes ``target``.

    ``replace=True``: an existing ``target`` is swapped out and deleted after the new one is in
    place (readers see the old folder or the new one). ``replace=False``: when ``target``
    appears meanwhile (another process finished the same work first) the new copy is dropped
    and the existing one kept, which is what caches of deterministic content want.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    old: Path | None = None
    try:
        yield tmp
        os.chmod(tmp, DIR_MODE)
        if target.exists():
            if not replace:
                return
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / target.name)
        try:
            os.replace(tmp, target)
        except OSError:
            if old is not None:  # put the previous folder back rather than lose it
                os.replace(old / target.name, target)
            elif replace or not target.is_dir():  # a real failure, not a lost race
                raise
            if old is not None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
