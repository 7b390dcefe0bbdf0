"""Dataset formats that cannot be read: broken manifests, unknown layouts, wrong formats, each
refused with a message naming the file, the problem and the fix (real files in temporary
folders)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ssl_core.data import load_dataset
from tests.format_files import write_audio, write_csv, write_image


def test_manifest_errors(tmp_path: Path) -> None:
    for name in ["a.wav", "b.ogg", "p.png"]:
        (write_audio if name.endswith((".wav", ".ogg")) else write_image)(tmp_path / name)
    manifest = tmp_path / "manifest.csv"

    write_csv(manifest, ["file", "category"], [["a.wav", "x"]])
    with pytest.raises(ValueError, match=r"manifest\.csv: missing column\(s\) 'path' or 'image', 'label'; "
                                         r"found columns \['file', 'category'\]; needed: 'path' or 'image', 'label'"):
        load_dataset(str(tmp_path))
    write_csv(manifest, ["path", "label"], [])
    with pytest.raises(ValueError, match=r"manifest\.csv: no rows"):
        load_dataset(str(tmp_path))
    write_csv(manifest, ["path", "label"], [["a.wav", "x"], ["p.png", "y"]])
    with pytest.raises(ValueError, match=r"manifest\.csv: mixes audio and image files "
                                         r"\(e\.g\. .*a\.wav and .*p\.png\)"):
        load_dataset(str(tmp_path))
    write_csv(manifest, ["path", "label"], [["a.wav", "x"], ["clip.mp4", "y"], ["clip.m4a", "y"]])
    with pytest.raises(ValueError, match=r"2 file\(s\) have an extension that is neither audio "
                                         r".*clip\.mp4, .*clip\.m4a"):
        load_dataset(str(tmp_path))
    missing = [f"gone{k}.wav" for k in range(7)]
    write_csv(manifest, ["path", "label"], [["a.wav", "x"]] + [[m, "x"] for m in missing] + [["b.ogg", "y"]])
    with pytest.raises(ValueError, match=r"7 of 9 listed file\(s\) do not exist: gone0\.wav, gone1\.wav, gone2\.wav, "
                                         r"gone3\.wav, gone4\.wav and 2 more; relative paths are read from"):
        load_dataset(str(tmp_path))
    write_csv(manifest, ["path", "label"], [["a.wav", "x"], ["./a.wav", "x"], ["b.ogg", "y"]])
    with pytest.raises(ValueError, match=r"1 path\(s\) are listed more than once: .*a\.wav \(lines 2, 3\)"):
        load_dataset(str(tmp_path))
    write_csv(manifest, ["path", "label"], [["a.wav", "x"], ["", "y"]])
    with pytest.raises(ValueError, match=r"empty 'path' on line\(s\) \[3\]"):
        load_dataset(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"data\.manifest 'nope\.csv'"):
        load_dataset(str(tmp_path), manifest="nope.csv")


def test_detection_and_format_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        load_dataset(str(tmp_path / "no_such_folder"))
    with pytest.raises(ValueError, match=r"data\.format 'wav' is not one of"):
        load_dataset(str(tmp_path), format="wav")
    with pytest.raises(ValueError, match=r"data\.manifest='m\.csv' is only read by .*not 'birdclef'"):
        load_dataset(str(tmp_path), format="birdclef", manifest="m.csv")

    nothing = tmp_path / "nothing"
    (nothing / "docs").mkdir(parents=True)
    (nothing / "docs" / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"unrecognised dataset folder and no usable files.*train\.csv or "
                                         r"train_metadata\.csv.*images\.csv.*manifest\.csv.*class folders.*"
                                         r"Set data\.format to one of"):
        load_dataset(str(nothing))

    mixed = tmp_path / "mixed"
    write_audio(mixed / "wren" / "a.flac")
    write_image(mixed / "wren" / "b.png")
    with pytest.raises(ValueError, match=r"holds both audio files \(1, e\.g\. wren/a\.flac\) and image files "
                                         r"\(1, e\.g\. wren/b\.png\); set data\.format=audio_folder or image_folder"):
        load_dataset(str(mixed))
    assert load_dataset(str(mixed), format="audio_folder").items[0].recording == "wren/a.flac"
    assert load_dataset(str(mixed), format="image_folder").items[0].recording == "wren/b.png"

    audio_only = tmp_path / "audio_only"
    write_audio(audio_only / "wren" / "a.ogg")
    with pytest.raises(ValueError, match=r"no usable image files; format image_folder expects .*<class>/<file>.*"
                                         r"1 audio file\(s\) \(e\.g\. wren/a\.ogg\): set data\.format=audio_folder"):
        load_dataset(str(audio_only), format="image_folder")
    with pytest.raises(ValueError, match=r"data\.format='birdclef', which expects train\.csv"):
        load_dataset(str(audio_only), format="birdclef")
    with pytest.raises(ValueError, match=r"data\.format='image_csv', which expects images\.csv, manifest\.csv.*"
                                         r"there is no images\.csv or manifest\.csv"):
        load_dataset(str(audio_only), format="image_csv")
    with pytest.raises(ValueError, match=r"data\.format='audio_csv', which expects manifest\.csv"):
        load_dataset(str(audio_only), format="audio_csv")
    with pytest.raises(ValueError, match=r"embedded dataset 'digits' has the 'image_csv' layout"):
        load_dataset("digits", format="audio_folder")
