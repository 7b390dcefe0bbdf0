"""bench/pipeline.py at tiny sizes: its pipeline arm is the trainer's training step (the same
losses as ``train``), and the script prints a table whose efficiency is pipeline over pure
throughput. Speed itself is the bench's job, not this."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_core.trainer import train

from tests.bench_scripts import load_bench

REPO = Path(__file__).resolve().parents[1]
TINY = dict(batch=8, crop_seconds=0.5, backbone="resnet10t", device="cpu")


@pytest.fixture(scope="module")
def bench():
    return load_bench("pipeline")


@pytest.fixture
def one_thread():
    # Tiny steps on a shared 2-core machine: two threads mostly wait for each other.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _Stop(Exception):
    pass


def test_pipeline_arm_is_the_trainers_step(bench, birdsong_root, tmp_path, one_thread):
    """The first pipeline steps give the losses ``train(cfg)`` logs for its first steps."""
    cfg = bench.bench_config("byol", **TINY, overrides=["data.num_workers=1", "eval.before_training=false"])
    trained: list[float] = []

    def record(step: int, loss: float, logs: dict) -> None:
        trained.append(loss)
        if len(trained) == 3:
            raise _Stop  # three steps are enough; skip the epoch's evaluation

    with pytest.raises(_Stop):
        train(cfg, run_dir=tmp_path / "run", step_callback=record)
    run = bench.Bench(cfg)
    try:
        seconds, waited = run.pipeline(3)
        pure = run.pure(2)
    finally:
        run.close()
    assert run.losses == trained  # bit for bit: same seeds, batches, views and optimiser steps
    assert 0.0 <= waited <= seconds and pure > 0.0
    assert [v.shape for v in run.views] == [torch.Size([8, 1, 64, 51])] * 2  # [B, 1, n_mels, 0.5 s / 10 ms + 1]


@pytest.mark.slow  # ~10 s alone, 20-35 s on the shared 2 cores: a fresh interpreter imports torch
def test_script_prints_the_ratio(birdsong_root):
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pipeline.py"), "--methods", "supervised", "--batch", "8",
         "--crop-seconds", "0.5", "--rounds", "1", "--steps", "1", "--threads", "1", "--mfu", "--eval-share",
         "--data", "birdsong", "--set", "data.num_workers=1"],
        capture_output=True, text=True, timeout=300, env=os.environ | {"PYTHONPATH": str(REPO)}, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]]
            for line in out.stdout.splitlines() if re.match(r"supervised +\|", line)}
    assert set(rows) == {"supervised"}
    peak = re.search(r"measured float32 matmul peak on CPU \(1 torch threads\): ([0-9.]+) TFLOP/s", out.stdout)
    assert peak and float(peak.group(1)) > 0, out.stdout
    for pipeline, pure, efficiency, spread, wait, views, gflop, mfu, pure_mfu, eval_share in rows.values():
        # MFU = steps/s x FLOP/step / peak, from the printed (rounded) numbers; the pure step's likewise.
        expected = float(pipeline) / 8 * float(gflop) * 1e9 / (float(peak.group(1)) * 1e12)
        assert float(mfu.rstrip("%")) / 100 == pytest.approx(expected, rel=0.1, abs=0.002)
        expected_pure = float(pure) / 8 * float(gflop) * 1e9 / (float(peak.group(1)) * 1e12)
        assert float(pure_mfu.rstrip("%")) / 100 == pytest.approx(expected_pure, rel=0.1, abs=0.002)
        assert 0.0 < float(eval_share.rstrip("%")) < 100.0
        assert 0 < float(mfu.rstrip("%")) < 100
        # One round: the efficiency is exactly that round's pipeline over pure throughput.
        assert float(efficiency) == pytest.approx(float(pipeline) / float(pure), rel=0.02, abs=0.002)
        assert spread == f"{float(efficiency):.2f}-{float(efficiency):.2f}".replace(" ", "")
        assert 0.0 <= float(wait.rstrip("%")) <= 100.0 and float(views.rstrip("%")) > 0.0
    assert "data.placement auto (if a loader: loader workers 1), torch threads 1" in out.stdout
    # birdsong's 314 train recordings at batch 8: 39 steps per epoch, held on the CPU (auto placement).
    assert "  supervised: " in out.stdout and "(39 steps per epoch)" in out.stdout
    assert "train data: device (" in out.stdout


def test_rounds_summary(bench):
    r = bench.Rounds(batch=10, steps=2, pipeline_s=[2.0, 4.0, 3.0], pure_s=[1.0, 2.0, 3.0],
                     wait_s=[0.9, 0.0, 0.0], views_s=[0.5, 0.1, 0.3])
    assert r.pipeline_rate() == pytest.approx(20 / 3)  # samples/s per round: 10, 5, 6.67
    assert r.pure_rate() == pytest.approx(10.0)  # 20, 10, 6.67
    assert r.ratios() == pytest.approx([0.5, 0.5, 1.0]) and r.efficiency() == pytest.approx(0.5)
    assert r.wait_share() == pytest.approx(0.1)  # 0.9 s of 9 s
    assert r.views_share() == pytest.approx(0.3 / 1.5)  # median view call over a median step
    r.steps_per_epoch, r.eval_s = 4, 6.0
    assert r.eval_share() == pytest.approx(6.0 / (6.0 + 4 * 1.5))  # an epoch: 4 median steps of 1.5 s


def test_step_flops_counts_a_linear_layer_by_its_formula(bench):
    """Forward 2*B*I*O; backward 2*B*I*O for the input's gradient and 2*B*I*O for the weight's."""
    layer, x = torch.nn.Linear(64, 32, bias=False), torch.randn(16, 64, requires_grad=True)
    assert bench.step_flops(lambda: layer(x).sum().backward()) == 3 * 2 * 16 * 64 * 32
    with torch.no_grad():
        assert bench.step_flops(lambda: layer(x)) == 2 * 16 * 64 * 32


def test_matmul_peak_is_the_flop_rate_of_a_matmul(bench):
    peak = bench.matmul_peak(torch.device("cpu"), torch.float32, size=256, repeats=2)
    assert 1e8 < peak < 1e14  # 2 * 256^3 FLOP in between a second and a nanosecond per run
