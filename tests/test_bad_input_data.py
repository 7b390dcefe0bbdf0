"""Issue 18, rows 6-8 and the CSV refusals: a dataset's files stay inside its folder, images
share one size and mode, and an unreadable CSV is named. Real files, real symlinks, read
back through ``load_dataset`` (what ``launch.py`` and every trial call); the launch-level
cases in ``tests/test_bad_input.py`` show the same refusals come before Ray starts."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_core.data import load_dataset
from tests.format_files import write_audio, write_csv, write_image

BIRDCLEF_HEADER = ["primary_label", "secondary_labels", "filename"]


def _birdclef(root: Path, extra_rows: list[list[str]]) -> Path:
    rows = []
    for cls in ("alpha", "beta"):
        for i in range(2):
            write_audio(root / "train_audio" / cls / f"{i}.wav", seed=i)
            rows.append([cls, "[]", f"{cls}/{i}.wav"])
    write_csv(root / "train.csv", BIRDCLEF_HEADER, rows + extra_rows)
    return root


def test_birdclef_row_outside_the_folder_is_refused_with_row_and_path(tmp_path: Path) -> None:
    secret = tmp_path / "ds" / "outside" / "secret.wav"  # ../../ from ds/bc/train_audio/
    write_audio(secret)
    root = _birdclef(tmp_path / "ds" / "bc", [["beta", "[]", "../../outside/secret.wav"]])
    with pytest.raises(ValueError) as refused:
        load_dataset(str(root))
    message = str(refused.value)
    assert "train.csv: 1 listed file(s) resolve outside the dataset folder" in message
    assert f"line 6: '../../outside/secret.wav' -> {secret.resolve()}" in message
    assert "set data.allow_outside_root=true" in message
    # The user may say otherwise: the row is then read where it points.
    index = load_dataset(str(root), allow_outside_root=True)
    assert secret.resolve() in {item.path.resolve() for item in index.items}


def test_the_config_opt_in_reaches_the_loader(tmp_path: Path) -> None:
    """``data.allow_outside_root=true`` (a config field, what a space or --override sets) lets
    ``load_and_split`` (what launch.py and every trial call) read a row outside the folder."""
    from ssl_core.config import load_config
    from ssl_core.data_pipeline import load_and_split

    secret = tmp_path / "ds" / "outside" / "secret.wav"
    write_audio(secret, seed=7)
    rows = [["beta", "[]", "../../outside/secret.wav"]]
    rows += [[cls, "[]", f"{cls}/{i}.wav"] for cls in ("alpha", "beta") for i in range(2, 5)]
    root = _birdclef(tmp_path / "ds" / "bc", rows)
    for cls in ("alpha", "beta"):
        for i in range(2, 5):
            write_audio(root / "train_audio" / cls / f"{i}.wav", seed=10 + i)
    overrides = [f"data.dataset={root}", f"data.decode_cache={tmp_path / 'decoded'}"]
    with pytest.raises(ValueError, match=r"resolve outside the dataset folder .*set data\.allow_outside_root=true"):
        load_and_split(load_config(None, overrides))
    index, splits = load_and_split(load_config(None, [*overrides, "data.allow_outside_root=true"]))
    assert secret.resolve() in {item.path.resolve() for item in index.items}
    assert sum(len(split) for split in splits.values()) == len(index.items) == 11


def test_birdclef_absolute_path_and_symlink_out_are_refused(tmp_path: Path) -> None:
    write_audio(tmp_path / "elsewhere" / "x.wav")
    root = _birdclef(tmp_path / "bc", [["alpha", "[]", str(tmp_path / "elsewhere" / "x.wav")]])
    with pytest.raises(ValueError, match=r"line 6: '/.*elsewhere/x\.wav' -> .*allow_outside_root=true"):
        load_dataset(str(root))
    # A file inside the folder that is a symlink to a file outside it is outside too.
    root = _birdclef(tmp_path / "bc2", [["alpha", "[]", "alpha/link.wav"]])
    os.symlink(tmp_path / "elsewhere" / "x.wav", root / "train_audio" / "alpha" / "link.wav")
    with pytest.raises(ValueError, match=r"line 6: 'alpha/link\.wav' -> .*elsewhere/x\.wav"):
        load_dataset(str(root))


def test_manifest_row_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    write_audio(tmp_path / "outside.wav")
    root = tmp_path / "m"
    for i, cls in enumerate("aabb"):
        write_audio(root / f"{cls}{i}.wav", seed=i)
    write_csv(root / "manifest.csv", ["path", "label"],
              [[f"{c}{i}.wav", c] for i, c in enumerate("aabb")] + [["../outside.wav", "a"]])
    with pytest.raises(ValueError, match=r"manifest\.csv: 1 listed file\(s\) resolve outside the dataset folder .*"
                                         r"line 6: '\.\./outside\.wav'.*allow_outside_root=true"):
        load_dataset(str(root))
    assert len(load_dataset(str(root), allow_outside_root=True).items) == 5


def _class_folders(root: Path) -> Path:
    for k, cls in enumerate(("alpha", "beta")):
        for i in range(2):
            write_audio(root / cls / f"{i}.wav", seed=10 * k + i)
    return root


def test_symlink_to_another_class_folder_is_refused(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "birds")
    os.symlink("../beta", root / "alpha" / "zz")
    with pytest.raises(ValueError, match=r"1 symbolic link\(s\) cannot be followed: alpha/zz -> \.\./beta "
                                         r"\(beta is indexed already\).*Remove the link or copy the files"):
        load_dataset(str(root))


def test_symlink_out_of_the_folder_is_refused_unless_allowed(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "birds")
    write_audio(tmp_path / "usr" / "system.wav")
    os.symlink(tmp_path / "usr", root / "alpha" / "u")
    with pytest.raises(ValueError, match=r"alpha/u -> .*/usr \(.*/usr is outside the dataset folder\).*"
                                         r"set data\.allow_outside_root=true"):
        load_dataset(str(root))
    index = load_dataset(str(root), allow_outside_root=True)
    assert "alpha/u/system.wav" in {item.recording for item in index.items}


def test_symlink_inside_the_folder_to_files_not_indexed_is_followed(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "birds")
    write_audio(root / ".store" / "gamma" / "g.wav")  # hidden: not indexed by itself
    os.symlink(".store/gamma", root / "gamma")
    index = load_dataset(str(root))
    assert index.class_names == ("alpha", "beta", "gamma")
    # A second link to the same files would count them twice: refused, naming the first.
    os.symlink("../.store/gamma", root / "alpha" / "again")
    with pytest.raises(ValueError, match=r"alpha/again -> \.\./\.store/gamma \(gamma reaches it already\)"):
        load_dataset(str(root))


def test_symlink_loop_to_the_root_is_refused(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "birds")
    os.symlink("..", root / "beta" / "up")
    with pytest.raises(ValueError, match=r"beta/up -> \.\. \(the dataset folder itself is indexed already\)"):
        load_dataset(str(root))


def _image(path: Path, size: tuple[int, int], mode: str, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint16 if mode == "I;16" else np.uint8
    Image.fromarray(np.full((size[1], size[0]), 7, dtype=dtype)).convert(mode).save(path, format=fmt)


@pytest.mark.parametrize("odd, mode, fmt, expected", [
    ("16x24", "RGB", "PNG", r"images differ in size or mode: 3 of 4 are 16x16 RGB, but 1 are not: .*b/1\.png "
                            r"\(16x24 RGB\)\. Batches stack images as stored"),
    ("16x16", "L", "PNG", r"images differ in size or mode: 3 of 4 are 16x16 RGB, but 1 are not: .*\(16x16 L\)"),
    ("16x16", "RGBA", "PNG", r"1 image\(s\) are neither 8-bit grayscale nor 8-bit RGB: .*b/1\.png \(RGBA\)"),
    ("16x16", "CMYK", "JPEG", r"1 image\(s\) are neither .*b/1\.png \(CMYK\)"),
    ("16x16", "I;16", "PNG", r"1 image\(s\) are neither .*b/1\.png \(I;16\)"),
    ("16x16", "P", "PNG", r"1 image\(s\) are neither .*b/1\.png \(P\)"),
])
def test_images_of_mixed_size_or_mode_are_refused_from_their_headers(tmp_path: Path, odd: str, mode: str,
                                                                      fmt: str, expected: str) -> None:
    root = tmp_path / "pics"
    for cls in ("a", "b"):
        _image(root / cls / "0.png", (16, 16), "RGB")
    width, height = map(int, odd.split("x"))
    _image(root / "a" / "1.png", (16, 16), "RGB")
    _image(root / "b" / "1.png", (width, height), mode, fmt)
    with pytest.raises(ValueError, match=expected) as refused:
        load_dataset(str(root))
    assert "convert('RGB')" in str(refused.value)  # the fix


def test_latin1_manifest_is_named(tmp_path: Path) -> None:
    write_audio(tmp_path / "café.wav")
    (tmp_path / "manifest.csv").write_bytes("path,label\ncafé.wav,oiseau\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"manifest\.csv: not UTF-8 text \(byte 0xe9 at offset 14, line 2\); "
                                         r"save it as UTF-8 CSV"):
        load_dataset(str(tmp_path))


def test_cell_over_the_csv_field_limit_is_named(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav")
    huge = "x" * (csv.field_size_limit() + 1)
    (tmp_path / "manifest.csv").write_text(f'path,label\na.wav,"{huge}"\n')
    with pytest.raises(ValueError, match=r"manifest\.csv:\d+: a cell is longer than the csv module's limit of "
                                         r"131,072 characters .*a quote .* that is never closed"):
        load_dataset(str(tmp_path))


def test_nul_in_a_label_is_refused(tmp_path: Path) -> None:
    for name in ("a.wav", "b.wav"):
        write_audio(tmp_path / name)
    (tmp_path / "manifest.csv").write_text("path,label\na.wav,wren\nb.wav,wren\x00\n")
    with pytest.raises(ValueError, match=r"manifest\.csv:3: column 'label' holds a NUL character \('wren\\x00'\); "
                                         r".*Remove it"):
        load_dataset(str(tmp_path))


def test_same_size_images_still_load(tmp_path: Path) -> None:
    for k, cls in enumerate("aabb"):
        write_image(tmp_path / cls / f"{k}.png", seed=k)
    assert load_dataset(str(tmp_path)).class_names == ("a", "b")
