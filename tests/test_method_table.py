"""bench/method_table.py on tiny runs: its scores are the runs' own test kNN, its intervals are
percentile intervals, and a second call scores the same runs again without training them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ssl_core.run import load_run
from ssl_core.run_layout import best_checkpoint
from ssl_core.run_report import evaluate_test_split
from tests.bench_scripts import run_bench

TINY = ["--epochs", "1", "--set", "model.backbone=test_resnet", "--set", "train.max_steps_per_epoch=2",
        "--set", "eval.linear_probe=never", "--set", "data.batch_size=16"]


def _table(out: Path, data_cache: Path) -> subprocess.CompletedProcess:
    return run_bench("method_table", ["--out", str(out), "--methods", "byol", *TINY], data_cache)


@pytest.mark.slow
def test_the_table_scores_each_run_on_test_and_rescores_without_retraining(tmp_path, data_cache) -> None:
    out = tmp_path / "table"
    first = _table(out, data_cache)
    record = json.loads((out / "method_table.json").read_text())
    assert list(record["methods"]) == ["byol", "supervised"]
    assert record["budget"].startswith("1 epochs x 2 steps of 16")
    for method, row in record["methods"].items():
        # The run's own test evaluation, a different path through the code, gives the same top-1.
        own = evaluate_test_split(load_run(best_checkpoint(out / method)))["knn_top1"]
        assert row["score"] == pytest.approx(own, abs=1e-6)
        low, high = row["interval"]
        assert low <= row["score"] <= high and high - low > 1.0  # 69 test items: never a point
        assert row["train_seconds"] > 0
        against = {c["against"]: c for c in row["comparisons"]}
        fixed = against["fixed features"]
        assert fixed["delta"] == pytest.approx(row["score"] - fixed["b"], abs=1e-6)
        assert fixed["low"] <= fixed["delta"] <= fixed["high"]
    assert "| byol |" in first.stdout and "| supervised |" in first.stdout
    again = _table(out, data_cache)
    rerun = json.loads((out / "method_table.json").read_text())
    assert all(row["train_seconds"] is None for row in rerun["methods"].values())  # scored, not retrained
    assert [r["score"] for r in rerun["methods"].values()] == [r["score"] for r in record["methods"].values()]
    assert (out / "method_table.md").read_text().strip() == again.stdout.strip()
