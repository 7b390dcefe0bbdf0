"""Which files a dataset can use (by extension), and checks on the files a listing names.

Audio: the extensions libsndfile (through ``soundfile``, the decoder of ``audio_decode.py``)
reads: WAV, FLAC, OGG (Vorbis / Opus), and MP3 when the installed libsndfile lists it (1.1 and
later; the soundfile wheels bundle 1.2). AAC / M4A / WMA are not listed: libsndfile cannot decode
them, so indexing them would only move the failure to training time. Images: what
``torchvision.io.decode_image`` reads: PNG, JPEG, WebP. Extensions match case-insensitively.

Only extensions are looked at here: an index never opens a file. Empty or truncated files are
listed like any other and left to the decoder.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import soundfile


def _audio_extensions() -> tuple[str, ...]:
    readable = soundfile.available_formats()
    return (".wav", ".flac", ".ogg") + ((".mp3",) if "MP3" in readable else ())


AUDIO_EXTENSIONS: tuple[str, ...] = _audio_extensions()
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp")
_MODALITY_OF_EXTENSION = {**{e: "audio" for e in AUDIO_EXTENSIONS}, **{e: "image" for e in IMAGE_EXTENSIONS}}
EXTENSIONS = {"audio": AUDIO_EXTENSIONS, "image": IMAGE_EXTENSIONS}
MAX_LISTED = 5  # how many offending paths an error message shows before "... and N more"


def modality_of(path: Path | str) -> str | None:
    """``"audio"``, ``"image"`` or None (not a usable file) from the file's extension."""
    return _MODALITY_OF_EXTENSION.get(os.path.splitext(str(path))[1].lower())


def list_some(values: Sequence[object], limit: int = MAX_LISTED) -> str:
    """``"a, b, c"`` or ``"a, b, c, d, e and 7 more"``: errors stay readable on big datasets."""
    shown = ", ".join(str(v) for v in values[:limit])
    return shown if len(values) <= limit else f"{shown} and {len(values) - limit} more"


def detect_modality(paths: Sequence[Path], where: str) -> str:
    """The one modality of ``paths`` (``"audio"`` or ``"image"``) from their extensions.

    Raises ValueError naming ``where`` when a path has no usable extension (listing up to 5 and
    the count), when there are no paths, or when audio and images are mixed (naming one file of
    each): a model takes either spectrograms or images, never both.
    """
    if not paths:
        raise ValueError(f"{where}: lists no files")
    by_modality: dict[str | None, list[Path]] = defaultdict(list)
    for path in paths:
        by_modality[modality_of(path)].append(path)
    unusable = by_modality.pop(None, [])
    if unusable:
        raise ValueError(
            f"{where}: {len(unusable)} file(s) have an extension that is neither audio "
            f"{AUDIO_EXTENSIONS} nor image {IMAGE_EXTENSIONS}: {list_some(unusable)}; convert them or remove those rows"
        )
    if len(by_modality) > 1:
        raise ValueError(
            f"{where}: mixes audio and image files (e.g. {by_modality['audio'][0]} and "
            f"{by_modality['image'][0]}); a dataset holds one modality: split it into two datasets"
        )
    return next(iter(by_modality))


def check_files_exist(paths: Sequence[Path], where: str, relative_to: Path) -> None:
    """Raise ValueError listing up to 5 of the files that do not exist, and their count.

    All paths are checked before raising, so one run reports every broken row, not the first.
    """
    report_missing([path for path in paths if not path.is_file()], len(paths), where, relative_to)


def report_missing(missing: Sequence[object], total: int, where: str, relative_to: Path) -> None:
    """Raise the missing-files ValueError of :func:`check_files_exist` if ``missing`` is not empty."""
    if missing:
        raise ValueError(
            f"{where}: {len(missing)} of {total} listed file(s) do not exist: {list_some(missing)}; "
            f"relative paths are read from {relative_to}. Fix those paths or remove their rows"
        )


def check_unique(paths: Sequence[Path], where: str, first_line: int = 2) -> None:
    """Raise ValueError when one file is listed on two rows (counted twice, and possibly in two
    splits). Lines are CSV line numbers: the header is line 1, so row 0 is ``first_line``."""
    lines: dict[Path, list[int]] = defaultdict(list)
    for row, path in enumerate(paths):
        lines[path].append(row + first_line)
    repeated = [f"{path} (lines {', '.join(map(str, rows))})" for path, rows in lines.items() if len(rows) > 1]
    if repeated:
        raise ValueError(f"{where}: {len(repeated)} path(s) are listed more than once: "
                         f"{list_some(repeated)}; keep one row per file")
