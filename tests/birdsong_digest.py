"""Comparing generated birdsong folders: with each other, and with the recorded draw.

libsndfile gives every Ogg stream a serial number drawn from the clock, so two generations of
the same recording on one machine differ in that serial and in each page's CRC (which covers
it), 8 bytes per page, and in nothing else: :func:`canonical_ogg` zeroes exactly those bytes.
Against the recorded draw (tests/birdsong_fingerprints.json), :func:`matches_fingerprint`.
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


# An exact digest of the bytes would hold on one kind of CPU only: numpy's sin / exp / log dispatch to
# SIMD kernels by CPU (AVX-512 machines and AVX2-only ones differ in the last bit), the Vorbis
# encoder turns a last-bit difference into other bytes, and the same draw then hashes
# differently (seen on an AVX2-only AMD EPYC against the digest recorded on the project's earlier
# machines). What a recorded draw must keep everywhere: the same files, metadata and lengths
# exactly, and the same audio to far better than any change of the generator would keep it.
#: relative tolerance on each recording's decoded RMS against the recorded fingerprint
RMS_TOLERANCE = 1e-3


def layout_digest(root: Path, exclude: tuple[str, ...] = ("nuisance.csv",)) -> str:
    """sha256 over every file's relative path, the bytes of every non-audio file (train.csv)
    and each ``.ogg`` file's decoded frame count: what no CPU difference may change."""
    import soundfile

    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and p.name not in exclude):
        relative = path.relative_to(root).as_posix().encode()
        data = str(soundfile.info(path).frames).encode() if path.suffix == ".ogg" else path.read_bytes()
        for part in (relative, data):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
    return digest.hexdigest()


def audio_rms(root: Path) -> list[float]:
    """Each ``.ogg`` file's decoded RMS, in sorted relative-path order (the order of
    :func:`layout_digest`)."""
    import numpy as np
    import soundfile

    return [float(np.sqrt(np.mean(np.square(soundfile.read(path, dtype="float64")[0]))))
            for path in sorted(Path(root).rglob("*.ogg"))]


def fingerprint(root: Path) -> dict:
    """``{"layout": layout_digest, "rms": audio_rms rounded to 6 significant digits}``."""
    return {"layout": layout_digest(root), "rms": [float(f"{v:.6g}") for v in audio_rms(root)]}


def matches_fingerprint(root: Path, recorded: dict) -> list[str]:
    """What differs from ``recorded`` (a :func:`fingerprint`); empty when the draw is the recorded one."""
    problems = []
    if layout_digest(root) != recorded["layout"]:
        problems.append("files, train.csv or a recording's length differ")
    rms = audio_rms(root)
    if len(rms) != len(recorded["rms"]):
        return problems + [f"{len(rms)} recordings, {len(recorded['rms'])} recorded"]
    off = [i for i, (a, b) in enumerate(zip(rms, recorded["rms"])) if abs(a - b) > RMS_TOLERANCE * abs(b)]
    if off:
        problems.append(f"{len(off)} recordings' RMS differ by more than {RMS_TOLERANCE:g} (first: #{off[0]}: "
                        f"{rms[off[0]]:.6g} vs {recorded['rms'][off[0]]:.6g})")
    return problems


def recorded_fingerprint(name: str) -> dict:
    """The fingerprint recorded for embedded data set ``name`` (tests/birdsong_fingerprints.json)."""
    import json

    return json.loads((Path(__file__).with_name("birdsong_fingerprints.json")).read_text())[name]
