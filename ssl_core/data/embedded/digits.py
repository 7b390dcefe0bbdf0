"""Embedded dataset "digits": scikit-learn's bundled handwritten digits as PNG files.

Real data (UCI optical digits, 1797 images of 8x8 pixels, values 0..16, 10 classes), written as
``images/<label>/<i>.png`` (grayscale uint8, value * 255 / 16) plus ``images.csv`` with columns
``image,label,fold``; folds 0..4 are assigned stratified by class with a fixed seed.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
import torchvision.io

NUM_FOLDS = 5
FOLD_SEED = 0


def stratified_folds(labels: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
    """Fold per item, ``[N]``: within each class, a seeded permutation dealt round-robin."""
    folds = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        order = np.random.default_rng([seed, int(label)]).permutation(len(members))
        folds[members[order]] = np.arange(len(members)) % num_folds
    return folds


def generate(out_dir: Path) -> None:
    """Write the digits dataset into ``out_dir`` (which must exist)."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)  # [N, 8, 8]
    labels = digits.target.astype(np.int64)
    folds = stratified_folds(labels, NUM_FOLDS, FOLD_SEED)
    rows = []
    for i, (image, label, fold) in enumerate(zip(images, labels, folds)):
        relative = f"images/{label}/{i:04d}.png"
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        png = torchvision.io.encode_png(torch.from_numpy(image)[None])  # [1, 8, 8]
        torchvision.io.write_file(str(path), png)
        rows.append((relative, int(label), int(fold)))
    with open(out_dir / "images.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label", "fold"])
        writer.writerows(rows)
