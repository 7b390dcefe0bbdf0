"""bench/recipe_ab.py on tiny runs: each setting's scores are its runs' own evaluations, B - A is
the difference of those with an interval around it, the seeds pair the runs, and a second call
scores the same runs again without training them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssl_core.run import load_run, read_run_config
from ssl_core.run_layout import best_checkpoint
from ssl_core.run_report import evaluate_test_split
from tests.bench_scripts import load_bench, run_bench

TINY = ["--epochs", "1", "--seeds", "2", "--set", "model.backbone=test_resnet", "--set", "train.max_steps_per_epoch=2",
        "--set", "eval.linear_probe=never", "--set", "data.batch_size=16", "--set", "eval.queries=train+val"]
A, B = "method.temperature=0.1", "method.temperature=0.5"


def _ab(out: Path, data_cache: Path):
    return run_bench("recipe_ab", ["--out", str(out), "--method", "simclr", "--a", A, "--b", B, *TINY], data_cache)


@pytest.mark.slow
def test_ab_scores_are_the_runs_own_and_a_rerun_only_rescores(tmp_path, data_cache) -> None:
    run_folder = load_bench("recipe_ab").run_folder
    out = tmp_path / "ab"
    first = _ab(out, data_cache)
    record = json.loads((out / "recipe_ab.json").read_text())
    for arm, temperature in (("a", 0.1), ("b", 0.5)):
        tests = []
        for seed in range(2):
            checkpoint = best_checkpoint(run_folder(out, arm, seed) / "simclr")
            cfg = read_run_config(checkpoint)
            assert (cfg.train.seed, cfg.method.temperature) == (seed, temperature)  # paired by seed
            # The run's own test evaluation, another path through the code, gives the same top-1.
            tests.append(evaluate_test_split(load_run(checkpoint))["knn_top1"])
        setting = record["settings"][arm]
        assert setting["test"] == pytest.approx(sum(tests) / 2, abs=1e-6)
        assert setting["val"] == pytest.approx(sum(setting["val_per_seed"]) / 2, abs=1e-6)
        assert all(s > 0 for s in setting["train_seconds"])
        delta, low, high = setting["test_vs_fixed"]
        assert delta == pytest.approx(setting["test"] - setting["fixed_features_test"], abs=1e-6) and low <= delta <= high
    # The arms differ in temperature only: the same front end, so the same no-training floor.
    assert record["settings"]["a"]["fixed_features_test"] == record["settings"]["b"]["fixed_features_test"]
    for split in ("val", "test"):
        delta, low, high = record[f"b_minus_a_{split}"]
        assert delta == pytest.approx(record["settings"]["b"][split] - record["settings"]["a"][split], abs=1e-6)
        assert low <= delta <= high and high - low > 1.0  # 69 test items, 2 seeds: never a point
    assert f"| A: {A} |" in first.stdout and "B - A on val:" in first.stdout
    again = _ab(out, data_cache)
    rerun = json.loads((out / "recipe_ab.json").read_text())
    assert all(s is None for arm in rerun["settings"].values() for s in arm["train_seconds"])  # not retrained
    assert rerun["b_minus_a_test"] == record["b_minus_a_test"] and rerun["b_minus_a_val"] == record["b_minus_a_val"]
    assert (out / "recipe_ab.md").read_text().strip() == again.stdout.strip()
