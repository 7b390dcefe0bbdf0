"""Tests of the data layer: readers, crop datasets, images, embedded data (splits and the
epoch sampler: test_data_splits.py)."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from ssl_core.data import (
    EMBEDDED,
    AudioCropDataset,
    DatasetIndex,
    EpochSampler,
    ImageDataset,
    Item,
    embedded_path,
    load_birdclef,
    load_dataset,
    load_image_csv,
    split_by_fold,
)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def touch(root: Path, *relative: str) -> None:
    """Create (empty) the files a CSV lists: readers refuse rows whose file does not exist, and an
    index never opens the files, so empty ones are enough here (tests/test_formats.py uses real
    encoded files)."""
    for name in relative:
        write_text(root / name, "")


# ---------------------------------------------------------------- readers


def test_load_image_csv_string_labels_and_folds(tmp_path: Path) -> None:
    write_text(tmp_path / "images.csv", "image,label,fold\na/1.png,dog,0\nb/2.png,cat,1\nc/3.png,dog,1\nd/4.png,,2\n")
    touch(tmp_path, "a/1.png", "b/2.png", "c/3.png", "d/4.png")
    index = load_image_csv(tmp_path)
    assert index.modality == "image"
    assert index.class_names == ("cat", "dog")
    assert index.labels().tolist() == [1, 0, 1, -1]  # empty label -> unlabelled
    assert [item.fold for item in index.items] == ["0", "1", "1", "2"]
    assert index.items[0].path == (tmp_path / "a/1.png").resolve()
    assert index.items[0].recording == "a/1.png"
    assert index.class_counts().tolist() == [1, 2]
    assert index.class_counts([0, 1]).tolist() == [1, 1]


def test_load_image_csv_integer_labels_sort_numerically(tmp_path: Path) -> None:
    write_text(tmp_path / "x.csv", "path,label\np0.png,10\np1.png,2\np2.png,1\np3.png,2\n")
    touch(tmp_path, "p0.png", "p1.png", "p2.png", "p3.png")
    index = load_image_csv(tmp_path, csv_name="x.csv", name="nums")
    assert index.class_names == ("1", "2", "10")
    assert index.labels().tolist() == [2, 1, 0, 1]
    assert all(item.fold is None for item in index.items)


def test_load_image_csv_missing_columns(tmp_path: Path) -> None:
    write_text(tmp_path / "images.csv", "image,fold\na.png,0\n")
    with pytest.raises(ValueError, match="label"):
        load_image_csv(tmp_path)
    write_text(tmp_path / "images.csv", "file,label\na.png,0\n")
    with pytest.raises(ValueError, match="image"):
        load_image_csv(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_image_csv(tmp_path, csv_name="nope.csv")


BIRDCLEF_FILES = ("train_audio/norcar/XC1.ogg", "train_audio/amerob/XC2.ogg", "train_audio/amerob/XC3.ogg",
                  "train_audio/bkcchi/iNat4.ogg")
BIRDCLEF_CSV = (
    "primary_label,secondary_labels,type,filename,rating\n"
    "norcar,\"['amerob', 'unknown1']\",['song'],norcar/XC1.ogg,4.0\n"
    "amerob,[],['call'],amerob/XC2.ogg,3.5\n"
    "amerob,\"['norcar', 'amerob']\",['call'],amerob/XC3.ogg,5.0\n"
    "bkcchi,,['song'],bkcchi/iNat4.ogg,0.0\n"
)


def test_load_birdclef(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", BIRDCLEF_CSV)
    touch(tmp_path, *BIRDCLEF_FILES)
    index = load_birdclef(tmp_path, name="bc")
    assert (index.name, index.modality, index.num_classes) == ("bc", "audio", 3)
    assert index.class_names == ("amerob", "bkcchi", "norcar")
    assert index.labels().tolist() == [2, 0, 0, 1]
    # unknown secondary codes are dropped; a secondary equal to the primary is dropped
    assert [item.secondary for item in index.items] == [(0,), (), (2,), ()]
    assert [item.recording for item in index.items] == ["XC1", "XC2", "XC3", "iNat4"]
    assert index.items[0].path == tmp_path.resolve() / "train_audio" / "norcar" / "XC1.ogg"


def test_load_birdclef_metadata_name_and_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train.csv"):
        load_birdclef(tmp_path)
    touch(tmp_path, *BIRDCLEF_FILES)
    write_text(tmp_path / "train_metadata.csv", "primary_label,secondary_labels\nx,[]\n")
    with pytest.raises(ValueError, match="filename"):
        load_birdclef(tmp_path)
    write_text(tmp_path / "train_metadata.csv", BIRDCLEF_CSV)
    assert len(load_birdclef(tmp_path).items) == 4


def test_load_birdclef_never_evaluates_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    write_text(
        tmp_path / "train.csv",
        f"primary_label,secondary_labels,filename\na,\"__import__('pathlib').Path('{marker}').touch()\",a/1.ogg\n",
    )
    touch(tmp_path, "train_audio/a/1.ogg")
    with pytest.raises(ValueError, match="secondary_labels"):
        load_birdclef(tmp_path)
    assert not marker.exists()


def test_dataset_index_validates() -> None:
    with pytest.raises(ValueError, match="modality"):
        DatasetIndex("x", "video", Path("/"), (), ())
    with pytest.raises(ValueError, match="label 3"):
        DatasetIndex("x", "audio", Path("/"), (Item(Path("/a"), 3, "a"),), ("p", "q"))


# ---------------------------------------------------------------- audio


@pytest.fixture()
def sine_wav(tmp_path: Path) -> tuple[Path, float]:
    """2 s stereo 22050 Hz WAV: left = sin(2 pi f t), right = 0.5 sin(...)."""
    rate, freq = 22050, 1234.5
    t = np.arange(2 * rate) / rate
    left = np.sin(2 * np.pi * freq * t)
    path = tmp_path / "sine.wav"
    soundfile.write(path, np.stack([left, 0.5 * left], axis=1).astype(np.float32), rate, subtype="FLOAT")
    return path, freq


def test_audio_resample_downmix_and_frequency(sine_wav: tuple[Path, float]) -> None:
    path, freq = sine_wav
    dataset = AudioCropDataset([Item(path, 4, "sine")], sample_rate=16000, crop_seconds=0.5, num_crops=3, train=False)
    waves, label = dataset[0]
    assert label == 4 and waves.dtype == torch.float32 and waves.shape == (3, 8000)
    assert torch.equal(waves[0], waves[1]) and torch.equal(waves[0], waves[2])  # eval: one crop repeated
    x = waves[0].numpy().astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    expected_bin = freq * x.size / 16000
    assert abs(int(np.argmax(spectrum)) - expected_bin) <= 1
    # downmix = mean of channels: amplitude (1 + 0.5) / 2
    assert np.sqrt(2 * np.mean(x**2)) == pytest.approx(0.75, rel=0.02)
    assert len(dataset.waveform(0)) == pytest.approx(2 * 16000, abs=2)


def ramp_file(tmp_path: Path, length: int, rate: int = 16000) -> Path:
    """A WAV whose sample i is (i + 1) / 2**20: every value identifies its position exactly."""
    path = tmp_path / f"ramp{length}.wav"
    soundfile.write(path, (np.arange(length) + 1) / 2**20, rate, subtype="FLOAT")
    return path


def starts_of(waves: torch.Tensor) -> tuple[list[int], np.ndarray]:
    """(first source position of each crop, source positions [num_crops, T]) of ramp crops."""
    positions = np.rint(waves.numpy().astype(np.float64) * 2**20).astype(np.int64) - 1
    return positions[:, 0].tolist(), positions


def test_audio_crops_follow_sample_seed(tmp_path: Path) -> None:
    length, crop = 20000, 4000
    dataset = AudioCropDataset([Item(ramp_file(tmp_path, length), 0, "r")], 16000, crop / 16000, num_crops=4,
                               cache_decoded=False)
    a, _ = dataset[(0, 123)]
    b, _ = dataset[(0, 123)]
    assert torch.equal(a, b)
    starts_a, positions = starts_of(a)
    assert np.all(np.diff(positions, axis=1) == 1)  # contiguous crops
    rng = np.random.default_rng(123)
    assert starts_a == rng.integers(0, length - crop + 1, size=4).tolist()  # uniform over valid starts
    assert len(set(starts_a)) > 1  # independent crop positions
    starts_c, _ = starts_of(dataset[(0, 124)][0])
    assert starts_c != starts_a
    centre, _ = starts_of(dataset[0][0])  # int key -> centre crop
    assert centre == [(length - crop) // 2] * 4


def test_audio_short_recordings_are_tiled(tmp_path: Path) -> None:
    length, crop = 3000, 8000
    dataset = AudioCropDataset([Item(ramp_file(tmp_path, length), 0, "r")], 16000, crop / 16000, num_crops=2,
                               cache_decoded=False)
    for key in [0, (0, 5), (0, 6)]:
        waves, _ = dataset[key]
        _, positions = starts_of(waves)
        assert waves.shape == (2, crop)
        assert np.all(waves.numpy() != 0)  # no zero padding
        # a circular read: position advances by 1 mod length
        assert np.all((positions[:, 1:] - positions[:, :-1]) % length == 1)
    assert starts_of(dataset[0][0])[0] == [0, 0]


def test_audio_cache_and_validation(tmp_path: Path) -> None:
    path = ramp_file(tmp_path, 5000)
    dataset = AudioCropDataset([Item(path, 0, "r")], 16000, 0.1)
    first, _ = dataset[0]
    path.unlink()  # served from the cache now
    second, _ = dataset[0]
    np.testing.assert_allclose(second.numpy(), first.numpy(), rtol=1e-3)
    for kwargs in [dict(sample_rate=0, crop_seconds=1.0), dict(sample_rate=16000, crop_seconds=0.0),
                   dict(sample_rate=16000, crop_seconds=1.0, num_crops=0)]:
        with pytest.raises(ValueError):
            AudioCropDataset([], **kwargs)


def test_loader_workers_reproduce_crops(tmp_path: Path) -> None:
    items = [Item(ramp_file(tmp_path, 6000 + 500 * k), k, f"r{k}") for k in range(6)]
    dataset = AudioCropDataset(items, 16000, 0.05, num_crops=2)

    def run(workers: int) -> list[torch.Tensor]:
        sampler = EpochSampler(len(items), seed=9)
        sampler.set_epoch(2)
        loader = torch.utils.data.DataLoader(dataset, batch_size=3, sampler=sampler, num_workers=workers,
                                             multiprocessing_context="fork" if workers else None)
        return [waves for waves, _ in loader]

    for a, b in zip(run(0), run(2)):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- images


def test_image_dataset_reads_png_and_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    items = [Item(tmp_path / n, k, n) for k, n in enumerate(["g.png", "c.png", "c.jpg"])]
    dataset = ImageDataset(items)
    g, label = dataset[0]
    assert label == 0 and g.dtype == torch.uint8 and g.shape == (1, 5, 7)
    assert np.array_equal(g[0].numpy(), gray)
    c, _ = dataset[(1, 99)]
    assert c.shape == (3, 4, 6) and np.array_equal(c.permute(1, 2, 0).numpy(), rgb)
    j, _ = dataset[2]
    assert j.shape == (3, 4, 6) and j.dtype == torch.uint8
    c[:] = 0  # callers may augment in place without touching the cache
    assert np.array_equal(dataset[1][0].permute(1, 2, 0).numpy(), rgb)


# ---------------------------------------------------------------- embedded + catalog


def _generate_digits(cache: str) -> str:
    return str(embedded_path("digits", Path(cache)))


def test_embedded_digits_concurrent_generation(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    cache = tmp_path / "cache"
    with multiprocessing.get_context("fork").Pool(2) as pool:
        roots = pool.map(_generate_digits, [str(cache)] * 2)
    assert roots[0] == roots[1] == str(cache / "digits-v2")
    assert sorted(p.name for p in cache.iterdir()) == ["digits-v2"]  # no temporary left over
    root = embedded_path("digits", cache)
    assert len(list(root.glob("images/*/*.png"))) == 1797
    index = load_dataset("digits", cache_dir=cache)
    assert (index.name, index.num_classes, len(index.items)) == ("digits", 10, 1797)
    reference = load_digits()
    assert np.array_equal(index.labels(), reference.target)
    dataset = ImageDataset(index.items)
    for k in (0, 500, 1796):
        image, label = dataset[k]
        assert image.shape == (1, 8, 8) and label == reference.target[k]
        assert np.array_equal(image[0].numpy(), np.rint(reference.images[k] * 255 / 16).astype(np.uint8))
    folds = np.array([int(item.fold) for item in index.items])
    for label in range(10):
        per_fold = np.bincount(folds[index.labels() == label], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1  # stratified
    split = split_by_fold(index, {"0": "train", "1": "train", "2": "train", "3": "val", "4": "test"})
    assert sum(len(v) for v in split.values()) == 1797


def test_embedded_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="birdsong"):
        embedded_path("mnist", tmp_path)
    assert EMBEDDED == ("birdsong", "digits")
    monkeypatch.setenv("SSL_SEARCH_CACHE", str(tmp_path / "env"))
    write_text(tmp_path / "env" / "digits-v2" / "images.csv", "image,label\nx.png,1\n")
    assert embedded_path("digits") == tmp_path / "env" / "digits-v2"  # env var, existing root reused


def test_a_relative_cache_variable_is_pinned_for_processes_in_other_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """launch.py pins a relative $SSL_SEARCH_CACHE before Ray starts: a trial runs in a folder of
    its own, and there the relative name meant a new, empty cache (data generated per trial)."""
    import os
    import subprocess
    import sys

    from ssl_core.data.embedded.paths import pin_cache_env

    write_text(tmp_path / "cache" / "digits-v2" / "images.csv", "image,label\nx.png,1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSL_SEARCH_CACHE", "cache")
    pin_cache_env()
    assert os.environ["SSL_SEARCH_CACHE"] == str(tmp_path / "cache")
    elsewhere = tmp_path / "trial_folder"
    elsewhere.mkdir()
    child = subprocess.run([sys.executable, "-c", "from ssl_core.data.embedded.paths import embedded_path; "
                            "print(embedded_path('digits'))"], cwd=elsewhere, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == str(tmp_path / "cache" / "digits-v2")  # the existing root, nothing generated
    assert not (elsewhere / "cache").exists()


def test_load_dataset_detects_folders(tmp_path: Path) -> None:
    birds = tmp_path / "birds"
    write_text(birds / "train.csv", BIRDCLEF_CSV)
    touch(birds, *BIRDCLEF_FILES)
    assert load_dataset(str(birds)).modality == "audio"
    images = tmp_path / "pics"
    write_text(images / "images.csv", "image,label\na.png,x\n")
    touch(images, "a.png")
    index = load_dataset(str(images))
    assert (index.modality, index.name) == ("image", "pics")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="images.csv"):
        load_dataset(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        load_dataset(str(tmp_path / "missing_dir"))
