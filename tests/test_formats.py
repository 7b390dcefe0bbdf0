"""Every dataset format users can bring, built from real encoded files in temporary folders.

Audio is written with soundfile (OGG Vorbis, FLAC, WAV, MP3 at 22.05 / 32 / 44.1 kHz, one
stereo file), images with PIL (PNG gray and RGB, JPEG, WebP). Expected labels, recording ids
and splits are derived here from the layouts the tests write, not from the readers.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from ssl_core.data import (
    AUDIO_EXTENSIONS,
    DatasetIndex,
    detect_format,
    load_dataset,
    split_by_fold,
    split_by_recording,
)
from tests.format_files import write_audio, write_csv, write_image


def by_recording(index: DatasetIndex) -> dict[str, tuple[str | None, str | None]]:
    """recording id -> (class name or None if unlabelled, fold)."""
    return {item.recording: (index.class_names[item.label] if item.label >= 0 else None, item.fold)
            for item in index.items}


def assert_same_index(a: DatasetIndex, b: DatasetIndex) -> None:
    assert (a.modality, a.class_names, a.items) == (b.modality, b.class_names, b.items)


# ---------------------------------------------------------------- BirdCLEF


# (CSV name, audio folder, whether `filename` carries the label folder, species codes)
BIRDCLEF_YEARS = {
    "2021": ("train_metadata.csv", "train_short_audio", False, ["amerob", "norcar", "wren"]),
    "2022-2024": ("train_metadata.csv", "train_audio", True, ["afrsil1", "asbfly", "barswa"]),
    "2025": ("train.csv", "train_audio", True, ["1139490", "amakin1", "grekis"]),
}


@pytest.mark.parametrize("year", sorted(BIRDCLEF_YEARS))
def test_birdclef_layouts(tmp_path: Path, year: str) -> None:
    csv_name, audio_dir, with_folder, codes = BIRDCLEF_YEARS[year]
    rows, expected = [], {}
    for k, (code, ext) in enumerate([(codes[0], ".ogg"), (codes[0], ".flac"), (codes[1], ".wav"),
                                     (codes[2], ".ogg"), (codes[2], ".ogg")]):
        stem = f"XC{1000 + k}"
        file = tmp_path / audio_dir / code / f"{stem}{ext}"
        expected[stem] = (code, file, write_audio(file, seed=k))
        secondary = f"['{codes[1]}', 'unknown9']" if k == 0 else "[]"
        rows.append([code, secondary, "['song']", f"{code}/{stem}{ext}" if with_folder else f"{stem}{ext}", "4.5"])
    write_csv(tmp_path / csv_name, ["primary_label", "secondary_labels", "type", "filename", "rating"], rows)

    index = load_dataset(str(tmp_path))
    assert_same_index(index, load_dataset(str(tmp_path), format="birdclef"))
    assert detect_format(tmp_path) == "birdclef"
    assert (index.modality, index.class_names) == ("audio", tuple(sorted(codes)))
    assert {item.recording for item in index.items} == set(expected)
    for item in index.items:
        code, file, (rate, channels) = expected[item.recording]
        assert index.class_names[item.label] == code and item.path == file.resolve()
        info = soundfile.info(str(item.path))  # the index points at the file we wrote
        assert (info.samplerate, info.channels) == (rate, channels)
    first = next(item for item in index.items if item.recording == "XC1000")
    assert [index.class_names[s] for s in first.secondary] == [codes[1]]  # unknown code dropped


def test_birdclef_missing_audio_files_and_wrong_format(tmp_path: Path) -> None:
    write_audio(tmp_path / "train_audio" / "a" / "XC1.ogg")
    write_csv(tmp_path / "train.csv", ["primary_label", "secondary_labels", "filename"],
              [["a", "[]", "a/XC1.ogg"], ["a", "[]", "a/XC2.ogg"], ["b", "[]", "b/XC3.ogg"]])
    with pytest.raises(ValueError, match=r"train\.csv: 2 of 3 listed file\(s\) do not exist: .*XC2\.ogg, .*XC3\.ogg"):
        load_dataset(str(tmp_path))
    write_csv(tmp_path / "train.csv", ["primary_label", "filename"], [["a", "a/XC1.ogg"]])
    with pytest.raises(ValueError, match=r"missing column\(s\) 'secondary_labels'; found columns "
                                         r"\['primary_label', 'filename'\]; needed: 'primary_label', "
                                         r"'secondary_labels', 'filename'"):
        load_dataset(str(tmp_path))
    shutil.rmtree(tmp_path / "train_audio")  # the CSV alone is not BirdCLEF
    with pytest.raises(ValueError, match=r"data\.format='birdclef', which expects train\.csv or "
                                         r"train_metadata\.csv .* train_audio/ or train_short_audio/"):
        load_dataset(str(tmp_path), format="birdclef")


# ---------------------------------------------------------------- class folders


def test_audio_folder_with_unlabelled_broken_and_ignored_files(tmp_path: Path) -> None:
    labelled = {"wren/a.ogg": "wren", "wren/b.flac": "wren", "wren/session2/c.wav": "wren",
                "robin/d.wav": "robin", "robin/e.ogg": "robin", "robin/f.mp3": "robin"}
    unlabelled = ["loose.flac", "_unlabelled/g.ogg", "_unlabelled/deep/h.wav"]
    written = {}
    for k, relative in enumerate(list(labelled) + unlabelled):
        written[relative] = write_audio(tmp_path / relative, seed=k)
    # Files the index must list without opening: the decode step, not the index, deals with them.
    real_ogg = (tmp_path / "wren/a.ogg").read_bytes()
    broken = {"robin/empty.wav": b"", "robin/truncated.ogg": real_ogg[: len(real_ogg) // 3],
              "wren/not_audio.flac": b"this is text, not FLAC"}
    for relative, data in broken.items():
        (tmp_path / relative).write_bytes(data)
        labelled[relative] = relative.split("/")[0]
    # Ignored: other extensions and hidden names (macOS copies, notebook checkpoints).
    for relative in ["notes.txt", "robin/.DS_Store", "robin/._d.wav", ".ipynb_checkpoints/x.wav", "wren/list.csv"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")

    index = load_dataset(str(tmp_path))
    assert_same_index(index, load_dataset(str(tmp_path), format="audio_folder"))
    assert (index.modality, index.class_names, index.name) == ("audio", ("robin", "wren"), tmp_path.name)
    expected = {**{r: (c, None) for r, c in labelled.items()}, **{r: (None, None) for r in unlabelled}}
    assert by_recording(index) == expected  # recording id = relative path; broken files listed
    assert ".mp3" in AUDIO_EXTENSIONS
    for item in index.items:
        assert item.path == tmp_path.resolve() / item.recording
        if item.recording in written:
            info = soundfile.info(str(item.path))
            assert (info.samplerate, info.channels) == written[item.recording]
        else:
            with pytest.raises(soundfile.LibsndfileError):  # really undecodable
                soundfile.info(str(item.path))


def test_image_folder(tmp_path: Path) -> None:
    # (class, grayscale): one mode for all, as a dataset needs (mixing is refused: test_bad_input_data.py)
    layout = {"cat/1.png": ("cat", False), "cat/2.jpg": ("cat", False), "dog/3.png": ("dog", False),
              "dog/4.JPG": ("dog", False), "dog/5.jpeg": ("dog", False), "6.png": (None, False),
              "_unlabelled/7.webp": (None, False)}
    sizes = {relative: write_image(tmp_path / relative, seed=k, gray=gray)
             for k, (relative, (_, gray)) in enumerate(layout.items())}
    (tmp_path / "README.md").write_text("my pictures")
    index = load_dataset(str(tmp_path))
    assert_same_index(index, load_dataset(str(tmp_path), format="image_folder"))
    assert (index.modality, index.class_names) == ("image", ("cat", "dog"))
    assert by_recording(index) == {r: (c, None) for r, (c, _) in layout.items()}
    for item in index.items:
        with Image.open(item.path) as image:
            assert image.size == sizes[item.recording]


def test_split_folders_become_folds(tmp_path: Path) -> None:
    """clothing-dataset-small / ImageNet layout: root/<split>/<class>/<file>."""
    layout = {"train/shirt/1.jpg": ("shirt", "train"), "train/shirt/2.jpg": ("shirt", "train"),
              "train/pants/3.png": ("pants", "train"), "validation/shirt/4.jpg": ("shirt", "validation"),
              "validation/pants/5.png": ("pants", "validation"), "test/pants/6.png": ("pants", "test"),
              "train/_unlabelled/7.png": (None, "train"), "_unlabelled/8.png": (None, None)}
    for k, relative in enumerate(layout):
        write_image(tmp_path / relative, seed=k)
    index = load_dataset(str(tmp_path), format="image_folder")
    assert index.class_names == ("pants", "shirt")  # not ("test", "train", "validation")
    assert by_recording(index) == layout
    split = split_by_fold(index, {"train": "train", "validation": "val", "test": "test"})
    for name, folder in [("train", "train"), ("val", "validation"), ("test", "test")]:
        in_fold = {r for r, (_, f) in layout.items() if f == folder or (name == "train" and f is None)}
        assert {index.items[i].recording for i in split[name]} == in_fold


# ---------------------------------------------------------------- manifests


def test_audio_manifest_paths_labels_folds(tmp_path: Path) -> None:
    elsewhere = tmp_path.parent / f"{tmp_path.name}_elsewhere" / "far.flac"
    write_audio(elsewhere)
    root = tmp_path / "birds"
    rows = [["clips/a.ogg", "wren", "0", "x"], ["./clips/b.flac", "robin", "1", ""],
            ["clips/sub/c.wav", "wren", "2", ""], [str(elsewhere), "robin", "0", ""],
            ["clips/d.ogg", "", "", "no label: SSL only"], ["clips/e.wav", "wren", "1", ""]]
    for k, row in enumerate(rows[:3] + rows[4:]):
        write_audio(root / row[0], seed=k)
    write_csv(root / "manifest.csv", ["path", "label", "fold", "notes"], rows)

    index = load_dataset(str(root))
    assert_same_index(index, load_dataset(str(root), format="audio_csv"))
    assert_same_index(index, load_dataset(str(root / "manifest.csv")))  # the CSV itself as the dataset
    assert detect_format(root) == "manifest"
    assert (index.modality, index.class_names) == ("audio", ("robin", "wren"))
    assert by_recording(index) == {"clips/a.ogg": ("wren", "0"), "clips/b.flac": ("robin", "1"),
                                   "clips/sub/c.wav": ("wren", "2"), str(elsewhere): ("robin", "0"),
                                   "clips/d.ogg": (None, None), "clips/e.wav": ("wren", "1")}
    assert [item.path for item in index.items] == [
        (root / "clips/a.ogg").resolve(), (root / "clips/b.flac").resolve(), (root / "clips/sub/c.wav").resolve(),
        elsewhere, (root / "clips/d.ogg").resolve(), (root / "clips/e.wav").resolve()]
    split = split_by_fold(index, {"0": "train", "1": "val", "2": "test"})
    # The unlabelled row has no fold and goes to train; the others follow their fold.
    assert split["train"].tolist() == [0, 3, 4] and split["val"].tolist() == [1, 5] and split["test"].tolist() == [2]
    assert index.labelled_indices(split["train"]).tolist() == [0, 3]
    assert index.labelled_indices().tolist() == [0, 1, 2, 3, 5]

    # data.manifest names another CSV; its paths are relative to its own folder.
    write_csv(root / "lists" / "subset.csv", ["path", "label"], [["../clips/a.ogg", "wren"], ["../clips/e.wav", "x"]])
    subset = load_dataset(str(root), manifest="lists/subset.csv")
    assert [item.path for item in subset.items] == [(root / "clips/a.ogg").resolve(), (root / "clips/e.wav").resolve()]
    assert subset.class_names == ("wren", "x")
    assert_same_index(subset, load_dataset(str(root), format="audio_csv", manifest=str(root / "lists/subset.csv")))
    with pytest.raises(ValueError, match=r"format 'image_csv' expects image files .* lists audio files"):
        load_dataset(str(root), format="image_csv")


def test_clothing_images_csv_with_ids(tmp_path: Path) -> None:
    """The clothing-dataset course's images.csv: `image` holds an id, the file is images/<id>.jpg."""
    ids = {"4285fab0-751a": "T-Shirt", "ea7b6656-3f84": "Shoes", "00627a3f-0477": "T-Shirt", "b0c03127-9dfb": ""}
    for k, image_id in enumerate(ids):
        write_image(tmp_path / "images" / f"{image_id}.jpg", seed=k)
    write_image(tmp_path / "extra.png", seed=9)
    write_csv(tmp_path / "images.csv", ["image", "sender_id", "label", "kids"],
              [[i, "1", label, "False"] for i, label in ids.items()] + [["extra.png", "2", "Shoes", "False"]])
    index = load_dataset(str(tmp_path))
    assert_same_index(index, load_dataset(str(tmp_path), format="image_csv"))
    assert detect_format(tmp_path) == "image_csv"
    assert (index.modality, index.class_names) == ("image", ("Shoes", "T-Shirt"))
    assert [item.path for item in index.items] == [(tmp_path / "images" / f"{i}.jpg").resolve() for i in ids] + [
        (tmp_path / "extra.png").resolve()]
    assert [item.label for item in index.items] == [1, 0, 1, -1, 0]
    write_csv(tmp_path / "images.csv", ["image", "label"], [["4285fab0-751a", "T-Shirt"], ["gone-id", "Shoes"]])
    with pytest.raises(ValueError, match=r"1 of 2 listed file\(s\) do not exist: gone-id \(as gone-id\.png\|\.jpg"):
        load_dataset(str(tmp_path))


def test_manifest_recording_column_keeps_clips_together(tmp_path: Path) -> None:
    rows = []
    for r in range(12):  # 12 recordings of 2 classes, 2 clips each
        for clip in range(2):
            rows.append([f"c{r}_{clip}.flac", f"class{r % 2}", f"rec{r}"])
    write_audio(tmp_path / "c0_0.flac")
    for row in rows[1:]:
        shutil.copy(tmp_path / "c0_0.flac", tmp_path / row[0])
    write_csv(tmp_path / "manifest.csv", ["path", "label", "recording"], rows)
    index = load_dataset(str(tmp_path))
    split = split_by_recording(index, (0.5, 0.25, 0.25), seed=1)
    recordings = {name: {index.items[i].recording for i in idx} for name, idx in split.items()}
    assert set.union(*recordings.values()) == {f"rec{r}" for r in range(12)}
    assert not (recordings["train"] & recordings["val"] or recordings["train"] & recordings["test"]
                or recordings["val"] & recordings["test"])
    assert all(len(idx) == 2 * len(recordings[name]) for name, idx in split.items())  # both clips together


# ---------------------------------------------------------------- unlabelled data and splits


def test_unlabelled_recordings_go_to_train(tmp_path: Path) -> None:
    write_audio(tmp_path / "seed.wav")
    source = tmp_path / "seed.wav"
    root = tmp_path / "data"
    counts = {"a": 3, "b": 5, "c": 9, "d": 2}
    for name, count in counts.items():
        for k in range(count):
            (root / name).mkdir(parents=True, exist_ok=True)
            shutil.copy(source, root / name / f"{k}.wav")
    for k in range(7):
        (root / "_unlabelled").mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / "_unlabelled" / f"u{k}.wav")
    for k in range(3):
        shutil.copy(source, root / f"loose{k}.wav")
    index = load_dataset(str(root))
    assert index.class_names == ("a", "b", "c", "d")  # no "_unlabelled" class
    labels = index.labels()
    assert (labels == -1).sum() == 10
    for seed in range(3):
        split = split_by_recording(index, (0.6, 0.2, 0.2), seed=seed)
        assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(len(index)))
        recordings = {name: {index.items[i].recording for i in idx} for name, idx in split.items()}
        assert not (recordings["train"] & recordings["val"] or recordings["train"] & recordings["test"]
                    or recordings["val"] & recordings["test"])
        assert set(np.flatnonzero(labels == -1)) <= set(split["train"].tolist())
        assert (labels[split["val"]] >= 0).all() and (labels[split["test"]] >= 0).all()
        for c, count in enumerate(counts.values()):
            per_split = [int((labels[idx] == c).sum()) for idx in split.values()]
            assert per_split == ([count, 0, 0] if count < 3 else per_split) and sum(per_split) == count
            if count >= 3:
                assert min(per_split) >= 1
        # Unlabelled files never move labelled ones: the same split as without them.
        keep = np.flatnonzero(labels >= 0)
        labelled_only = DatasetIndex("l", "audio", index.root, tuple(index.items[i] for i in keep), index.class_names)
        reference = split_by_recording(labelled_only, (0.6, 0.2, 0.2), seed=seed)
        for name in split:
            assert index.labelled_indices(split[name]).tolist() == keep[reference[name]].tolist()


def test_split_by_fold_refuses_unlabelled_in_val(tmp_path: Path) -> None:
    for k in range(3):
        write_image(tmp_path / f"{k}.png", seed=k)
    write_csv(tmp_path / "images.csv", ["path", "label", "fold"],
              [["0.png", "x", "0"], ["1.png", "", "1"], ["2.png", "y", "0"]])
    index = load_dataset(str(tmp_path))
    with pytest.raises(ValueError, match=r"1 unlabelled item\(s\) fall in val or test.*1\.png \(fold '1' -> val\)"):
        split_by_fold(index, {"0": "train", "1": "val"})
    assert split_by_fold(index, {"0": "train", "1": "train"})["train"].tolist() == [0, 1, 2]
