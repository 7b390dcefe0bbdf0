"""bench/budget_curve.py on a tiny run: a row per kept checkpoint (and the untrained network),
steps counted as the budget counts them, each score the checkpoint's own test evaluation (another
path through the code), the logistic-regression reference equal to scikit-learn's on the fixed
features, and a second call that scores the same run again without training it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ssl_core.baselines import fixed_feature_embeddings
from ssl_core.budget import steps_per_epoch
from ssl_core.run import load_run
from ssl_core.run_layout import epoch_checkpoint
from ssl_core.run_report import evaluate_test_split
from tests.bench_scripts import run_bench

TINY = ["--epochs", "2", "--every", "1", "--set", "model.backbone=test_resnet", "--set", "train.max_steps_per_epoch=2",
        "--set", "data.batch_size=16", "--set", "train.progress=off"]


def _curve(out: Path, data_cache: Path) -> subprocess.CompletedProcess:
    return run_bench("budget_curve", ["--out", str(out), *TINY], data_cache)


@pytest.mark.slow
def test_each_kept_checkpoint_is_scored_on_test_against_both_references(tmp_path, data_cache) -> None:
    from sklearn.linear_model import LogisticRegression

    out = tmp_path / "curve"
    first = _curve(out, data_cache)
    record = json.loads((out / "budget_curve.json").read_text())
    run = load_run(epoch_checkpoint(out / "simclr", 1))
    assert (run.cfg.data.windows_per_epoch, run.cfg.data.eval_windows) == (2, "mean")  # the default search's
    steps = steps_per_epoch(run.cfg, len(run.data.splits["train"]))
    assert steps == 2 and record["steps_per_epoch"] == steps  # train.max_steps_per_epoch caps it
    assert [(r["epoch"], r["steps"]) for r in record["rows"]] == [(0, 0), (1, 2), (2, 4)]
    for row in record["rows"][1:]:
        own = evaluate_test_split(load_run(epoch_checkpoint(out / "simclr", row["epoch"])))["knn_top1"]
        assert row["score"] == pytest.approx(own, abs=1e-6)
        assert row["wall_seconds"] > 0
        assert row["vs_fixed"][0] == pytest.approx(row["score"] - record["fixed_features"], abs=1e-6)
        assert row["beats_fixed"] == (row["vs_fixed"][1] > 0)
    # The logistic regression, refitted here on the verdict's fixed features of the same data.
    bank, queries = fixed_feature_embeddings(run, "test")
    model = LogisticRegression(max_iter=5000).fit(bank.features.numpy(), bank.labels.numpy())
    expected = 100 * float(np.mean(model.predict(queries.features.numpy()) == queries.labels.numpy()))
    assert record["logistic_regression"][0] == pytest.approx(expected, abs=1e-6)
    assert "| 2 | 4 | 64 |" in first.stdout
    _curve(out, data_cache)
    again = json.loads((out / "budget_curve.json").read_text())
    assert all(r["wall_seconds"] is None for r in again["rows"])  # scored, not retrained
    assert [r["score"] for r in again["rows"]] == [r["score"] for r in record["rows"]]
