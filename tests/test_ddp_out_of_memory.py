"""A DDP trial whose rank 1 runs out of memory mid-epoch ends as a failed trial, without hanging.

Rank 1's allocation fails after its second step; rank 0 goes on into the third step and
waits in DDP's gradient all-reduce for a rank that will never join it. Before the fix,
rank 1 reported its failure and waited at Ray Train's report barrier: both ranks waited
until gloo's 30-minute timeout (a scratch run still hung after 150 s). Now rank 1 raises
``RankOutOfMemoryError``, Ray Train stops the group, and the Tune trial reports the failure.

Real pieces throughout: Ray on loopback, Tune, a two-worker Ray Train TorchTrainer (gloo),
the real trainer on the embedded birdsong data, and a real allocator failure on rank 1
(its RLIMIT_DATA set just above what the process holds, then a larger allocation).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest
import torch

from search_spaces import load_space
from ssl_core.distributed import rank
from ssl_core.trainer import train
from tests.tiny import tiny_space_text
from trainables.results import trial_rows
from trainables.trial import TRIAL_DRIVER, TrialResources, TrialSetup, make_trainable

pytestmark = pytest.mark.slow

SPACE = tiny_space_text({"optim.lr": {"loguniform": [0.001, 0.01]}}, trials=1, epochs=2, concurrent=1,
                        base={"method": {"temperature": 0.2}, "train": {"max_steps_per_epoch": 6},
                              "eval": {"linear_probe": "never", "clustering": False}},
                        searched=("optim.lr",), description="one DDP trial")
HEADROOM = 64 * 2**20  # bytes rank 1 may still allocate once capped
TOO_MUCH = 512 * 2**20


def _data_segment_bytes() -> int:
    """This process's VmData (what RLIMIT_DATA counts), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData line in /proc/self/status")


def out_of_memory_on_rank_1(cfg, **kwargs):
    """The real trainer; rank 1's memory runs out after its second optimiser step."""

    def after_step(global_step: int, loss: float, logs: dict) -> None:
        if rank() == 1 and global_step == 1:
            _, hard = resource.getrlimit(resource.RLIMIT_DATA)
            resource.setrlimit(resource.RLIMIT_DATA, (_data_segment_bytes() + HEADROOM, hard))
            torch.empty(TOO_MUCH, dtype=torch.uint8)  # raises: DefaultCPUAllocator: can't allocate memory

    return train(cfg, step_callback=after_step, **kwargs)


def test_one_rank_out_of_memory_fails_the_trial_with_the_reason_instead_of_hanging(tmp_path, data_cache) -> None:
    import ray
    import ray.cloudpickle
    from ray import tune

    # Ray's workers cannot import this test module by name: send its functions by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    space_file = tmp_path / "ddp_space.yaml"
    space_file.write_text(SPACE)
    space = load_space(space_file)
    resources = TrialResources(workers=2, cpus_per_worker=1)
    setup = TrialSetup(space=space, overrides=(), storage_path=str(tmp_path), experiment="ddp_oom",
                       resources=resources, worker_failures=1)
    ray.init(num_cpus=2, resources={TRIAL_DRIVER: 1}, include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(make_trainable(setup, out_of_memory_on_rank_1), resources.trial_resources()),
            param_space={"optim.lr": 0.005},
            # A regression hangs until gloo's timeout; the budget turns that into a failed assertion.
            tune_config=tune.TuneConfig(num_samples=1, time_budget_s=300),
            run_config=tune.RunConfig(name="ddp_oom", storage_path=str(tmp_path),
                                      failure_config=tune.FailureConfig(max_failures=1)),
        )
        results = tuner.fit()
    finally:
        ray.shutdown()

    assert len(results) == 1
    result = results[0]
    # Had the trial raised, Tune's retry would fail the same way and leave the error here.
    assert result.error is None, f"the trial raised instead of reporting its failure: {result.error}"
    [row] = trial_rows(results, space)
    assert row.status.startswith("failed: out of memory at data.batch_size=16 with test_resnet"), row.status
    assert "DefaultCPUAllocator: can't allocate memory" in row.status and "lower data.batch_size" in row.status
    # Rank 1 failed in epoch 1, before any evaluation: the failure result repeats the start state.
    assert row.epochs == 0 and result.metrics["resumed_from_epoch"] == 0
