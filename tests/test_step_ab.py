"""bench/step_ab.py at tiny sizes: its interval is the t-interval of the mean log-ratio, its verdict
follows the interval, and a layout-only setting leaves the two arms' losses equal to float
rounding. Which arm is faster is the bench's job, not this."""

from __future__ import annotations

import json
import math

import pytest

from tests.bench_scripts import load_bench, run_bench


@pytest.fixture(scope="module")
def step_ab():
    return load_bench("step_ab")


def test_ratio_interval_is_the_t_interval_of_log_ratios(step_ab) -> None:
    # Two rounds, ratios 0.5 and 2: mean log 0; sd of (-ln 2, ln 2) is ln 2 * sqrt 2; t(0.975, 1) = 12.7062047 (tables).
    mean, low, high = step_ab.ratio_interval([0.5, 2.0])
    half = 12.7062047 * math.log(2) * math.sqrt(2) / math.sqrt(2)
    assert mean == pytest.approx(1.0)
    assert (low, high) == pytest.approx((math.exp(-half), math.exp(half)), rel=1e-6)
    assert math.isnan(step_ab.ratio_interval([0.8])[1])
    assert step_ab.verdict(0.7, 0.9) == "B faster"
    assert step_ab.verdict(1.1, 1.3) == "B slower"
    assert step_ab.verdict(0.9, 1.1) == "not separable"


def test_layout_ab_runs_and_keeps_the_losses(tmp_path, birdsong_root, data_cache) -> None:
    out = tmp_path / "ab.json"
    done = run_bench("step_ab", ["--a", "train.channels_last=off", "--b", "train.channels_last=on",
                                 "--data", "birdsong", "--backbone", "test_resnet", "--batch", "8",
                                 "--crop-seconds", "0.5", "--rounds", "2", "--steps", "1", "--warmup", "2",
                                 "--threads", "1", "--eval", "--out", str(out),
                                 "--set", "data.num_workers=0", "eval.clustering=false"], data_cache)
    record = json.loads(out.read_text())
    times = record["measurements"]
    assert [len(times["train_s"][arm]) for arm in "AB"] == [2, 2]
    assert [len(times["eval_s"][arm]) for arm in "AB"] == [2, 2]
    # The summary's ratio is the geometric mean of the per-round ratios, recomputed here.
    ratios = [b / a for a, b in zip(times["train_s"]["A"], times["train_s"]["B"])]
    assert record["summary"]["train_s"]["ratio"] == pytest.approx(math.sqrt(ratios[0] * ratios[1]))
    # Same seeds, same batches and views: channels_last changes the memory layout, not the sums.
    assert len(record["summary"]["first_losses"]["A"]) == 2
    assert record["summary"]["max_loss_gap"] < 1e-4
    assert "training steps: A " in done.stdout and "one evaluation: A " in done.stdout
