"""Tests of the embedded procedural birdsong dataset (BirdCLEF layout)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import spectrogram

from ssl_core.data import load_birdclef, load_dataset
from ssl_core.data.embedded.birdsong import generate
from ssl_core.data.embedded.birdsong_song import sing
from ssl_core.data.embedded.birdsong_species import make_species
from tests.birdsong_digest import matches_fingerprint, recorded_fingerprint

# BirdCLEF 2025 train.csv header, written out independently of the generator.
BIRDCLEF_2025_COLUMNS = [
    "primary_label", "secondary_labels", "type", "filename", "collection", "rating", "url",
    "latitude", "longitude", "scientific_name", "common_name", "author", "license",
]
# The default birdsong's fingerprint (tests/birdsong_fingerprints.json): every later generation
# must match it, so that results on birdsong stay comparable. Its bytes matched a digest recorded
# with numpy 2.4.6, scipy 1.17.1 and libsndfile 1.2.2 (the soundfile 0.14.0 wheel) on the
# project's earlier machines, and differ with the same libraries on an AVX2-only AMD EPYC (and
# with numpy 2.3.5 / scipy 1.16.3 there: the CPU, not the versions), hence a fingerprint.


@pytest.fixture(scope="module")
def full_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("birdsong_full")
    generate(root)  # default: 2 worker processes
    return root


@pytest.fixture(scope="module")
def rows(full_root: Path) -> list[dict[str, str]]:
    with open(full_root / "train.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == BIRDCLEF_2025_COLUMNS
        return list(reader)


@pytest.fixture(scope="module")
def decoded(full_root: Path, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    return {row["filename"]: soundfile.read(full_root / "train_audio" / row["filename"], dtype="float32")[0]
            for row in rows}


def extreme_band_species() -> tuple[str, str]:
    """Codes of the species with the lowest and the highest band centre."""
    species = make_species()
    centres = [np.sqrt(sp.band[0] * sp.band[1]) for sp in species]
    return species[int(np.argmin(centres))].code, species[int(np.argmax(centres))].code


def test_layout_and_reader(full_root: Path, rows: list[dict[str, str]]) -> None:
    index = load_birdclef(full_root, name="birdsong")
    assert index.num_classes == 20 and len(index.items) == len(rows)
    assert 400 <= len(rows) <= 500
    for row, item in zip(rows, index.items):
        label, name = row["filename"].split("/")
        assert label == row["primary_label"] and name.endswith(".ogg")
        assert item.path.is_file() and item.path.parent.name == label
        assert index.class_names[item.label] == row["primary_label"]
        assert 0.0 <= float(row["rating"]) <= 5.0
    assert len({item.recording for item in index.items}) == len(rows)
    assert load_dataset(str(full_root)).num_classes == 20  # detected as BirdCLEF


def test_default_set_is_unchanged(full_root: Path) -> None:
    """The default draw (seed 2025, all species, 2 processes) is the one recorded: the same
    files, train.csv and lengths exactly, every recording's RMS within 0.1 % (the bytes differ
    between CPUs: tests/birdsong_digest.py says why)."""
    recorded = recorded_fingerprint("birdsong")
    assert matches_fingerprint(full_root, recorded) == []
    # The tolerance is far tighter than a changed generator: 0.2 % louder on one recording fails.
    louder = dict(recorded, rms=[recorded["rms"][0] * 1.002, *recorded["rms"][1:]])
    assert matches_fingerprint(full_root, louder) == [
        f"1 recordings' RMS differ by more than 0.001 (first: #0: {recorded['rms'][0]:.6g} vs {louder['rms'][0]:.6g})"]


def test_long_tail(full_root: Path) -> None:
    counts = load_birdclef(full_root).class_counts()
    assert counts.min() >= 1 and counts.max() >= 10 * counts.min()


def test_audio_format_and_durations(full_root: Path, rows: list[dict[str, str]], decoded: dict[str, np.ndarray]) -> None:
    durations = []
    for row in rows:
        info = soundfile.info(full_root / "train_audio" / row["filename"])
        assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "OGG", "VORBIS")
        durations.append(info.frames / info.samplerate)
        assert decoded[row["filename"]].ndim == 1
    durations = np.array(durations)
    assert durations.min() >= 2.9 and durations.max() <= 15.1
    assert durations.max() - durations.min() > 8.0 and durations.std() > 2.0
    peaks = np.array([np.abs(x).max() for x in decoded.values()])
    assert peaks.max() <= 1.0  # peak-limited before encoding (0.95 + codec overshoot)


def test_secondary_labels(full_root: Path, rows: list[dict[str, str]]) -> None:
    with_secondary = [row for row in rows if row["secondary_labels"] != "[]"]
    assert 0.1 <= len(with_secondary) / len(rows) <= 0.4  # ~25 % designed
    codes = {row["primary_label"] for row in rows}
    for row in with_secondary:
        secondary = row["secondary_labels"].strip("[]").replace("'", "").split(", ")
        assert set(secondary) <= codes and row["primary_label"] not in secondary
    index = load_birdclef(full_root)
    assert sum(1 for item in index.items if item.secondary) == len(with_secondary)


def loud_frame_centroid(x: np.ndarray, rate: int = 16000) -> float:
    """Spectral centroid (Hz, above 800 Hz) of the mean spectrum of the loudest 10 % of frames."""
    freqs, _, power = spectrogram(x.astype(np.float64), rate, nperseg=512)
    keep = freqs >= 800
    power = power[keep]
    energy = power.sum(axis=0)
    mean = power[:, energy >= np.quantile(energy, 0.9)].mean(axis=1)
    return float((freqs[keep] * mean).sum() / mean.sum())


def test_species_differ_in_band(rows: list[dict[str, str]], decoded: dict[str, np.ndarray]) -> None:
    low, high = extreme_band_species()
    centroid = {code: np.mean([loud_frame_centroid(decoded[r["filename"]]) for r in rows if r["primary_label"] == code])
                for code in (low, high)}
    assert centroid[high] - centroid[low] > 1500.0


def test_nuisance_varies_within_species(rows: list[dict[str, str]], decoded: dict[str, np.ndarray]) -> None:
    common = make_species()[0].code  # the most-recorded species
    waves = [decoded[r["filename"]] for r in rows if r["primary_label"] == common]
    rms_db = np.array([10 * np.log10(np.mean(x.astype(np.float64) ** 2)) for x in waves])
    assert rms_db.max() - rms_db.min() > 10.0
    # The noise floor (quietest 10 % of 32 ms frames) varies too: SNR, gain, noise colour.
    floor_db = []
    for x in waves:
        frames = x[: x.size // 512 * 512].reshape(-1, 512).astype(np.float64)
        floor_db.append(10 * np.log10(np.quantile((frames**2).mean(axis=1), 0.1)))
    assert np.ptp(floor_db) > 10.0


def test_songs_have_silent_stretches() -> None:
    species = make_species()[0]
    longest_gaps = []
    for seed in range(10):
        _, active = sing(species, 20 * 16000, 16000, np.random.default_rng(seed))
        assert 0.0 < active.mean() < 1.0
        edges = np.flatnonzero(np.diff(active.astype(np.int8)))
        longest_gaps.append(np.diff(edges).max() / 16000 if edges.size > 1 else 0.0)
    assert max(longest_gaps) >= 1.5  # a noise-only stretch, not just a phrase gap


def test_generation_is_deterministic(tmp_path: Path, full_root: Path) -> None:
    low, high = extreme_band_species()
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        root.mkdir()
        generate(root, species=[low, high], max_per_species=2, processes=1)
    files = sorted(p.relative_to(roots[0]) for p in roots[0].glob("train_audio/*/*.ogg"))
    assert len(files) == 4
    assert (roots[0] / "train.csv").read_text() == (roots[1] / "train.csv").read_text()
    for relative in files:
        a = soundfile.read(roots[0] / relative, dtype="float32")[0]
        b = soundfile.read(roots[1] / relative, dtype="float32")[0]
        full = soundfile.read(full_root / relative, dtype="float32")[0]  # 2 processes, all species
        assert np.array_equal(a, b) and np.array_equal(a, full)


def test_generate_rejects_unknown_species(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nosuch"):
        generate(tmp_path, species=["nosuch"])


def test_nuisance_file_describes_every_recording(full_root: Path, rows: list[dict[str, str]]) -> None:
    """nuisance.csv: one row per train.csv row (same order), every channel value in its drawn range."""
    import csv as _csv

    from ssl_core.data.embedded.birdsong import NUISANCE_COLUMNS, NUISANCE_FILE

    with open(full_root / NUISANCE_FILE, newline="") as handle:
        reader = _csv.DictReader(handle)
        assert tuple(reader.fieldnames) == NUISANCE_COLUMNS
        channels = list(reader)
    assert [c["filename"] for c in channels] == [r["filename"] for r in rows]
    ranges = {"noise_colour": (0, 2), "snr_db": (-5, 20), "gain_db": (-20, 6), "rt60_s": (0.1, 1.0),
              "eq_tilt_db_per_octave": (-4, 4), "low_cut_hz": (80, 400), "hum_db": (-10, 10)}
    for channel in channels:
        for key, (low, high) in ranges.items():
            if key == "hum_db" and channel[key] == "":
                continue
            assert low <= float(channel[key]) <= high, (key, channel)
    with_hum = sum(c["hum_db"] != "" for c in channels) / len(channels)
    assert 0.15 < with_hum < 0.45  # HUM_PROBABILITY 0.3
