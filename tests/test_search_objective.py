"""A real search whose objective is not kNN: its best trial is tested and exported at its best epoch.

Ray Tune on loopback, driven by launch.py, two trials of a tiny space whose objective is
``linear_top1``. The trial's score, the trainer's best checkpoint, the test report and the
exported backbone must all be the same evaluation: the best ``linear_top1`` after epoch 0,
read here independently from each trial's own ``progress.csv``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_core.checkpoint import read_checkpoint
from ssl_core.run import load_run
from ssl_core.run_report import evaluate_test_split
from tests.tiny import tiny_space_text

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def linear_search(tmp_path_factory, data_cache, birdsong_root) -> Path:
    root = tmp_path_factory.mktemp("linear")
    space = root / "linear.yaml"
    space.write_text(tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=2, epochs=3,
                                     concurrent=2, base={"eval": {"linear_probe": "every"}},
                                     objective={"metric": "linear_top1", "mode": "max"}))
    env = dict(os.environ, SSL_SEARCH_CACHE=str(data_cache))
    proc = subprocess.run([sys.executable, "launch.py", "--space", str(space), "--storage", str(root / "runs"),
                           "--name", "linear"], cwd=REPO, env=env, text=True, capture_output=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return root / "runs" / "linear"


def _history(trial_dir: Path) -> list[tuple[int, float]]:
    with (trial_dir / "progress.csv").open(newline="") as handle:
        return [(int(float(r["epoch"])), float(r["linear_top1"])) for r in csv.DictReader(handle)
                if r.get("linear_top1") not in (None, "")]


def test_the_best_linear_top1_epoch_is_what_gets_tested_and_exported(linear_search: Path) -> None:
    rows = list(csv.DictReader((linear_search / "trials.csv").open()))
    assert len(rows) == 2 and "best_linear_top1" in rows[0]
    for row in rows:
        history = _history(linear_search / row["trial"])
        assert history[0][0] == 0  # the untrained network was evaluated (and reported)...
        trained = [(e, v) for e, v in history if e > 0 and math.isfinite(v)]
        value = max(v for _, v in trained)
        epoch = max(e for e, v in trained if v == value)
        # ...but only trained epochs score the trial, and ties go to the later epoch.
        assert float(row["best_linear_top1"]) == pytest.approx(value) and int(row["best_epoch"]) == epoch
        state = read_checkpoint(linear_search / row["trial"] / "ssl" / "checkpoints" / "best")
        assert state["epoch"] == epoch and state["metrics"]["linear_top1"] == pytest.approx(value)
    best = rows[0]
    assert float(best["best_linear_top1"]) >= float(rows[1]["best_linear_top1"])
    best_ckpt = linear_search / best["trial"] / "ssl" / "checkpoints" / "best"
    # The export holds that checkpoint's backbone...
    exported = torch.load(linear_search / "best_backbone.pth", weights_only=True)
    model_state = read_checkpoint(best_ckpt)["model"]
    for key, value in exported.items():
        torch.testing.assert_close(value, model_state[f"backbone.{key}"], rtol=0, atol=0)
    # ...and the test report is that checkpoint's test split.
    reported = json.loads((linear_search / "best_test_metrics.json").read_text())
    again = evaluate_test_split(load_run(best_ckpt, device="cpu"))
    for key in ("knn_top1", "linear_top1", "tail_top1"):
        assert reported[key] == pytest.approx(again[key], abs=1e-9), key
    assert reported["epoch"] == int(best["best_epoch"])
    summary = (linear_search / "summary.md").read_text()
    assert f"(epoch {best['best_epoch']})" in summary and "after epoch 0" in summary
