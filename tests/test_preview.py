"""The preview command end to end: a PNG of the expected size and the same figure in TensorBoard."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ssl_core.augment.preview import DPI, HEADER_INCHES, PANEL_INCHES, TAG, column_headers, main, pick_items

REPO = Path(__file__).resolve().parents[1]


CASES = {  # dataset -> (modality, extra arguments, columns)
    "digits": ("image", ["--set", "augment.flip_p=0", "--set", "augment.num_local_crops=1"], 4),
    "birdsong": ("audio", ["--set", "augment.noise_snr_db=10", "--set", "augment.fader_p=1"], 3),
}


@pytest.fixture(scope="module")
def previews(tmp_path_factory, digits_root, birdsong_root) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Run the command on both datasets at once (two processes: half the wall time on 2 cores)."""
    env = {**os.environ, "SSL_SEARCH_CACHE": os.environ["SSL_SEARCH_CACHE"]}  # the session's data cache
    running = {}
    for dataset, (_, extra, _) in CASES.items():
        folder = tmp_path_factory.mktemp(dataset)
        args = ["--data", dataset, "--pairs", "3", "--out", str(folder / "preview.png"),
                "--tensorboard", str(folder / "tb"), *extra]
        process = subprocess.Popen([sys.executable, "-m", "ssl_core.augment.preview", *args], cwd=REPO, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running[dataset] = (process, args, folder)
    done = {}
    for dataset, (process, args, folder) in running.items():
        stdout, stderr = process.communicate(timeout=120)
        done[dataset] = (subprocess.CompletedProcess(args, process.returncode, stdout, stderr), folder)
    return done


def expected_pixels(rows: int, cols: int, modality: str) -> tuple[int, int]:
    width, height = PANEL_INCHES[modality]
    return round(cols * width * DPI), round((rows * height + HEADER_INCHES) * DPI)


def read_tensorboard_image(log_dir: Path) -> Image.Image:
    events = EventAccumulator(str(log_dir), size_guidance={"images": 0})
    events.Reload()
    assert TAG in events.Tags()["images"]
    (record,) = events.Images(TAG)
    picture = Image.open(io.BytesIO(record.encoded_image_string))
    assert picture.size == (record.width, record.height)
    return picture


@pytest.mark.parametrize("dataset", CASES)
def test_preview_writes_png_and_tensorboard_image(dataset, previews):
    modality, _, cols = CASES[dataset]
    done, folder = previews[dataset]
    out, log_dir = folder / "preview.png", folder / "tb"
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    png = Image.open(out)
    png.load()  # decodes the whole file
    assert png.size == expected_pixels(3, cols, modality)
    pixels = np.asarray(png.convert("L"), dtype=np.float64)
    assert pixels.std() > 20  # drawn panels, not a blank page
    board = read_tensorboard_image(log_dir)
    assert board.size == png.size


def test_preview_refuses_bad_input_with_a_message(tmp_path, capsys):
    assert main(["--data", "digits", "--set", "augment.fader_db=-3", "--out", str(tmp_path / "x.png")]) == 2
    assert "augment.fader_db" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_pick_items_covers_classes_round_robin():
    labels = np.array([0, 0, 0, 1, 1, 2])
    assert pick_items(labels, 3) == [0, 3, 5]  # one of each class first
    assert pick_items(labels, 5) == [0, 3, 5, 1, 4]  # then the second item of each
    with pytest.raises(ValueError, match=r"--pairs must be in \[1, 6\]"):
        pick_items(labels, 7)


def test_column_headers_name_the_source_crop():
    assert column_headers(3, 1) == ["clean", "view 1", "view 2"]
    assert column_headers(5, 2) == ["clean (crop 1)", "view 1 (crop 1)", "view 2 (crop 2)",
                                    "local 1 (crop 1)", "local 2 (crop 2)"]
