"""Embedded dataset "birdsong": procedural bird song written in the BirdCLEF 2025 layout.

``train_audio/<code>/<id>.ogg`` (16 kHz mono OGG Vorbis) and ``train.csv`` with BirdCLEF 2025's
columns. Each recording = one bird of its species singing (see birdsong_song) + maybe a quieter
bird of another species (its secondary label) -> reverberation -> coloured background noise at
a random SNR + sometimes mains hum -> random microphone EQ -> random overall gain.

Every recording has its own seed, ``SeedSequence(seed, spawn_key=(recording_number,))``, so the
output does not depend on the number of processes or on which subset is generated.

Names (``data.dataset`` / ``--data``), each cached as ``<cache>/<name>-v2`` (see paths.py):

- ``birdsong``: 452 recordings, 60 down to 5 per species (a long tail); 26 MB. About 25 s of
  CPU time: 12 s on 2 idle cores (25 s measured while other jobs shared them).
- ``birdsong-x2``, ``-x4``, ``-x8``, ``-x16``: N times as many recordings of the same 20
  species, same long tail. x4: 240 down to 20 per species, 1808 recordings, 103 MB, about
  90 s of CPU time (90 s wall measured on 2 busy cores; about 45 s on idle ones). Time and size
  grow with N (x16: ~420 MB, several minutes). Round r of a draw holds recordings
  ``r * 452 + k`` for birdsong's own numbers ``k``, so each draw contains every smaller one
  bit for bit (round 0 is birdsong itself). Same train.csv columns and one recording per file,
  so ``split_by_recording`` splits them like birdsong.

The Vorbis payload is deterministic; the Ogg stream serial number (and the page checksums that
cover it) is drawn by libsndfile from the clock, so raw file bytes differ in those 8 bytes per
page between generations. Decoded audio and train.csv are identical every time.
"""
from __future__ import annotations

import csv
import math
import multiprocessing
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile

from .birdsong_nuisance import coloured_noise, hum, microphone_eq, reverberate
from .birdsong_song import sing
from .birdsong_species import SAMPLE_RATE, Species, make_species

BIRDSONG_SEED = 2025
DURATION_SECONDS = (3.0, 15.0)
SNR_DB = (-5.0, 20.0)          # song (while singing) to background noise; -5 dB is hard
GAIN_DB = (-20.0, 6.0)         # overall level, relative to REFERENCE_PEAK
REFERENCE_PEAK = 0.45          # peak before the gain: +6 dB gives 0.9, safely below 1
PEAK_LIMIT = 0.95              # safety net (Vorbis may overshoot the input peak slightly)
BACKGROUND_PROBABILITY = 0.25  # another species singing quieter: a secondary label
BACKGROUND_DB = (-20.0, -6.0)
HUM_PROBABILITY = 0.3
HUM_DB = (-10.0, 10.0)         # hum RMS relative to the noise RMS
# libsndfile's default (~0.6) punches visible spectral holes next to loud syllables; 0.3
# keeps codec artefacts mild (real BirdCLEF audio is lossy too) for ~30 % more bytes.
VORBIS_LEVEL = 0.3
# nuisance.csv, beside train.csv: what makes each recording sound like itself apart from its
# bird (hum_db empty: no hum). A separate file keeps train.csv and the audio byte-identical to
# the draws earlier results were measured on. Tests use it to check the shortcut probe.
NUISANCE_FILE = "nuisance.csv"
NUISANCE_COLUMNS = ("filename", "noise_colour", "snr_db", "gain_db", "hum_db", "rt60_s", "eq_tilt_db_per_octave",
                    "low_cut_hz")
CSV_COLUMNS = ("primary_label", "secondary_labels", "type", "filename", "collection", "rating", "url",
               "latitude", "longitude", "scientific_name", "common_name", "author", "license")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def render(species_index: int, seed: np.random.SeedSequence) -> tuple[np.ndarray, dict[str, float | int]]:
    """Synthesize one recording: (wave ``[T]`` float32 in [-1, 1], conditions drawn)."""
    species = make_species()
    rng = np.random.default_rng(seed)
    n = int(rng.uniform(*DURATION_SECONDS) * SAMPLE_RATE)
    song, active = sing(species[species_index], n, SAMPLE_RATE, rng)
    song_rms = _rms(song[active]) if active.any() else 1.0  # level while the bird sings
    background = -1
    if rng.random() < BACKGROUND_PROBABILITY:
        background = int(rng.choice([i for i in range(len(species)) if i != species_index]))
        other, other_active = sing(species[background], n, SAMPLE_RATE, rng)
        if other_active.any():
            scale = song_rms / _rms(other[other_active]) * 10 ** (rng.uniform(*BACKGROUND_DB) / 20)
            song = song + scale * other
    drawn: dict[str, float] = {}  # the recording's channel, reported without changing a draw
    song = reverberate(song, SAMPLE_RATE, rng, drawn)
    snr_db = rng.uniform(*SNR_DB)
    beta = rng.uniform(0.0, 2.0)
    noise = coloured_noise(n, beta, SAMPLE_RATE, rng) * song_rms * 10 ** (-snr_db / 20)
    mix = song + noise
    hum_db = float("nan")
    if rng.random() < HUM_PROBABILITY:
        mains = hum(n, SAMPLE_RATE, rng)  # drawn before its level, as always: the same audio
        hum_db = rng.uniform(*HUM_DB)
        mix += mains * _rms(noise) * 10 ** (hum_db / 20)
    mix = microphone_eq(mix, SAMPLE_RATE, rng, drawn)
    gain_db = rng.uniform(*GAIN_DB)
    mix *= REFERENCE_PEAK / (np.abs(mix).max() + 1e-12) * 10 ** (gain_db / 20)
    mix *= min(1.0, PEAK_LIMIT / (np.abs(mix).max() + 1e-12))
    return mix.astype(np.float32), {"snr_db": snr_db, "gain_db": gain_db, "background": background,
                                    "noise_colour": beta, "hum_db": hum_db, **drawn}


def _write_recording(task: tuple[str, int, int, int]) -> tuple[dict[str, str], dict[str, str]]:
    """Render recording ``number`` of species ``species_index``, write its OGG; return its
    ``train.csv`` row and its ``nuisance.csv`` row (the channel it was recorded through)."""
    out_dir, seed, number, species_index = task
    species = make_species()
    sp = species[species_index]
    wave, conditions = render(species_index, np.random.SeedSequence(seed, spawn_key=(number,)))
    recording_id = f"SYN{number:05d}"
    filename = f"{sp.code}/{recording_id}.ogg"
    path = Path(out_dir) / "train_audio" / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), wave, SAMPLE_RATE, format="OGG", subtype="VORBIS", compression_level=VORBIS_LEVEL)
    # Descriptive columns: plausible synthetic values, drawn from a separate stream so that
    # they never change the audio.
    meta = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(number, 1)))
    secondary = [species[conditions["background"]].code] if conditions["background"] >= 0 else []
    rating = float(np.clip(np.round(2 * (1.0 + 4.0 * (conditions["snr_db"] + 5.0) / 25.0)) / 2, 0.0, 5.0))
    channel = {"filename": filename, **{key: ("" if math.isnan(float(conditions[key])) else f"{conditions[key]:.4f}")
                                        for key in NUISANCE_COLUMNS[1:]}}
    return {
        "primary_label": sp.code,
        "secondary_labels": repr(secondary),
        "type": repr(["song"] if meta.random() < 0.8 else ["song", "call"]),
        "filename": filename,
        "collection": "XC" if meta.random() < 0.85 else "iNat",
        "rating": f"{rating:.1f}",
        "url": f"https://example.org/ssl-search/birdsong/{recording_id}",
        "latitude": f"{sp.latitude + meta.normal(0.0, 2.0):.4f}",
        "longitude": f"{sp.longitude + meta.normal(0.0, 2.0):.4f}",
        "scientific_name": sp.scientific_name,
        "common_name": sp.common_name,
        "author": f"Synthetic Recordist {int(meta.integers(1, 13))}",
        "license": "Creative Commons Attribution 4.0",
    }, channel


def plan(species: Sequence[Species], scale: int = 1) -> list[tuple[int, int]]:
    """(recording number, species index) of the full dataset, species by species.

    scale N: N rounds of the base plan, round r numbered ``r * base total + base number``, so
    round 0 is the base plan and a larger draw extends a smaller one. Within a species the
    base recordings come first (``max_per_species`` keeps those).
    """
    if scale < 1:
        raise ValueError(f"scale {scale} must be >= 1")
    base = []
    for species_index, sp in enumerate(species):
        base += [(len(base) + k, species_index) for k in range(sp.num_recordings)]
    rounds = [(r * len(base) + number, species_index) for r in range(scale) for number, species_index in base]
    # Species by species, then by number: for scale 1 this is exactly the base order.
    return sorted(rounds, key=lambda task: (task[1], task[0]))


def generate(
    out_dir: Path,
    species: Sequence[str] | None = None,
    max_per_species: int | None = None,
    processes: int | None = None,
    seed: int = BIRDSONG_SEED,
    scale: int = 1,
) -> None:
    """Write the dataset (or a subset of it, for tests) into the existing folder ``out_dir``.

    species: codes to include (default all 20). max_per_species: keep only each species' first
    recordings. A subset's recordings are bit-identical to the same recordings of the full set.
    processes: worker processes (default: up to 2 CPU cores); 1 runs in this process.
    seed: the per-recording seed root (another seed: other recordings of the same species).
    scale: N times as many recordings (``birdsong-x<N>``), see :func:`plan`.
    """
    all_species = make_species()
    codes = [sp.code for sp in all_species]
    if species is not None:
        unknown = sorted(set(species) - set(codes))
        if unknown:
            raise ValueError(f"unknown species {unknown}; valid codes: {codes}")
    if max_per_species is not None and max_per_species < 1:
        raise ValueError(f"max_per_species {max_per_species} must be >= 1")
    tasks, taken = [], {}
    for number, species_index in plan(all_species, scale):
        code = codes[species_index]
        if species is not None and code not in species:
            continue
        if max_per_species is not None and taken.get(code, 0) >= max_per_species:
            continue
        taken[code] = taken.get(code, 0) + 1
        tasks.append((str(out_dir), seed, number, species_index))
    processes = processes or min(2, os.cpu_count() or 1)
    if multiprocessing.current_process().daemon:
        processes = 1  # daemonic processes (e.g. loader workers) may not start a Pool
    if processes > 1 and len(tasks) > 1:
        # fork: the workers need only numpy/scipy/soundfile, and fork avoids re-importing
        # torch (pulled in by ssl_core.data) in every worker; rows come back in task order.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        with multiprocessing.get_context(method).Pool(processes) as pool:
            written = pool.map(_write_recording, tasks, chunksize=4)
    else:
        written = [_write_recording(task) for task in tasks]
    for name, columns, rows in (("train.csv", CSV_COLUMNS, [row for row, _ in written]),
                                (NUISANCE_FILE, NUISANCE_COLUMNS, [channel for _, channel in written])):
        with open(Path(out_dir) / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
