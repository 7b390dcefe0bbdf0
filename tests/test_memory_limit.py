"""train.memory_limit_gb and out-of-memory recognition, on real allocations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_core.config import Config, ConfigError, load_config
from ssl_core.memory import is_out_of_memory, out_of_memory_reason

REPO = Path(__file__).resolve().parents[1]


def test_a_real_cpu_allocation_failure_is_recognised() -> None:
    with pytest.raises(RuntimeError) as failure:
        torch.empty(10**13)  # 40 TB: more than this machine's memory and swap
    assert is_out_of_memory(failure.value)
    reason = out_of_memory_reason(Config(), failure.value)
    assert "out of memory at data.batch_size=64 with resnet10t" in reason and "lower data.batch_size" in reason
    assert "DefaultCPUAllocator: can't allocate memory" in reason and "enforce fail" not in reason
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_memory_limit_must_be_non_negative() -> None:
    with pytest.raises(ConfigError, match="train.memory_limit_gb"):
        load_config(None, ["train.memory_limit_gb=-1"])
    assert load_config(None, ["train.memory_limit_gb=2.5"]).train.memory_limit_gb == 2.5


@pytest.mark.slow
def test_a_batch_over_the_cap_fails_with_the_reason_and_one_under_it_trains(tmp_path, birdsong_root) -> None:
    """The cap is RLIMIT_DATA of the training process: run it in a subprocess (as a Ray worker is)."""
    def run(batch: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ssl_core.train", "--method", "simclr", "--data", "birdsong", "--epochs", "1",
             "--output", str(tmp_path / str(batch)), "--set", "train.max_steps_per_epoch=2",
             "--set", "data.num_workers=0", "--set", "eval.before_training=false", "--set", "eval.linear_probe=never",
             "--set", "train.memory_limit_gb=2.5", "--set", "data.crop_seconds=1.0", "--set", f"data.batch_size={batch}"],
            cwd=REPO, capture_output=True, text=True, timeout=600)

    over = run(256)
    assert over.returncode == 1, over.stderr[-2000:]
    assert "error: out of memory at data.batch_size=256 with resnet10t, train.memory_limit_gb=2.5" in over.stderr
    assert "Traceback" not in over.stderr
    under = run(16)
    assert under.returncode == 0, under.stderr[-2000:]
    assert "final val knn_top1" in under.stdout
