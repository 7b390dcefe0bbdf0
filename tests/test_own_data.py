"""A user's own data, end to end through the trainer: an audio folder per class with
unlabelled and broken files, and an image manifest with pinned folds."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np

from ssl_core.data import load_dataset
from ssl_core.trainer import train
from tests.tiny import tiny_config


def _audio_folder(birdsong_root: Path, root: Path) -> Path:
    index = load_dataset(str(birdsong_root), format="birdclef")
    labels = index.labels()
    for cls in range(4):
        for n, i in enumerate(np.flatnonzero(labels == cls)[:8]):
            target = root / index.class_names[cls] / f"{n}.ogg"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(index.items[i].path, target)
    (root / "_unlabelled").mkdir()
    for n, i in enumerate(np.flatnonzero(labels == 5)[:6]):  # another species, no label: SSL only
        shutil.copy(index.items[i].path, root / "_unlabelled" / f"u{n}.ogg")
    (root / index.class_names[0] / "empty.ogg").write_bytes(b"")
    (root / index.class_names[1] / "notes.ogg").write_text("not audio at all")
    return root


def test_audio_folder_with_unlabelled_and_broken_files_trains(tmp_path, birdsong_root) -> None:
    root = _audio_folder(birdsong_root, tmp_path / "my_birds")
    run_dir = tmp_path / "run"
    cfg = tiny_config("simclr", run_dir, dataset=str(root), epochs=1, steps=0,
                      extra=("data.batch_size=8", "data.eval_windows=mean", "data.window_weighting=energy",
                             f"data.cache_dir={tmp_path / 'cache'}", "data.split_fractions=[0.5, 0.25, 0.25]"))
    final = train(cfg, run_dir=run_dir)
    assert math.isfinite(final["knn_top1"]) and final["chance_top1"] == 25.0  # 4 labelled classes
    report = json.loads((run_dir / "decode_report.json").read_text())
    skipped = {Path(entry["path"]).name: entry["reason"] for entry in report["skipped"]}
    assert set(skipped) == {"empty.ogg", "notes.ogg"}
    assert (tmp_path / "cache" / "decoded").is_dir()  # decoded once, reused by later runs


def test_image_manifest_with_pinned_folds_trains(tmp_path, digits_root) -> None:
    rows = list(csv.DictReader((digits_root / "images.csv").open()))[:300]
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "fold"])
        for n, row in enumerate(rows):
            writer.writerow([str(digits_root / row["image"]), row["label"], ["a", "a", "a", "b", "c"][n % 5]])
    run_dir = tmp_path / "run"
    cfg = tiny_config("byol", run_dir, dataset=str(manifest), epochs=1, steps=3,
                      extra=("augment.flip_p=0", "data.fold_map={a: train, b: val, c: test}"))
    final = train(cfg, run_dir=run_dir)
    assert math.isfinite(final["knn_top1"]) and final["chance_top1"] == 10.0
