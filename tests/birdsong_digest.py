"""A checksum of a generated birdsong folder that is stable from one generation to the next.

libsndfile gives every Ogg stream a serial number drawn from the clock, so two generations of
the same recording differ in that serial and in each page's CRC (which covers it), 8 bytes per
page, and in nothing else. The digest zeroes exactly those bytes and hashes everything else.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

OGG_HEADER = 27            # bytes of an Ogg page header before its segment table
SERIAL = slice(14, 18)     # bitstream serial number, within the page header
CRC = slice(22, 26)        # page checksum, within the page header


def canonical_ogg(data: bytes) -> bytes:
    """``data`` (an Ogg file) with every page's serial number and CRC zeroed; same length.

    Raises ValueError when ``data`` is not a sequence of whole Ogg pages.
    """
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos:pos + 4] != b"OggS" or pos + OGG_HEADER > len(out):
            raise ValueError(f"no Ogg page at byte {pos}")
        segments = out[pos + 26]
        body = sum(out[pos + OGG_HEADER:pos + OGG_HEADER + segments])
        out[pos + SERIAL.start:pos + SERIAL.stop] = bytes(4)
        out[pos + CRC.start:pos + CRC.stop] = bytes(4)
        pos += OGG_HEADER + segments + body
    if pos != len(out):
        raise ValueError(f"last Ogg page runs past the end ({pos} > {len(out)} bytes)")
    return bytes(out)


def tree_digest(root: Path, exclude: tuple[str, ...] = ("nuisance.csv",)) -> str:
    """sha256 over every file under ``root`` but those named in ``exclude``, sorted by relative
    path: length-prefixed path and bytes (``.ogg`` files through :func:`canonical_ogg`).

    ``nuisance.csv`` (each recording's channel, added later) is left out by default, so the
    digests recorded before it existed still check that the audio and ``train.csv`` are unchanged.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and p.name not in exclude):
        relative = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        if path.suffix == ".ogg":
            data = canonical_ogg(data)
        for part in (relative, data):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
    return digest.hexdigest()
