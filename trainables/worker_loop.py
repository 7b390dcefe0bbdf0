"""What runs on each Ray Train worker: ``ssl_core.trainer.train`` with Ray's report and resume.

Every rank calls ``ray.train.report`` at each evaluation (Ray requires it); rank 0 attaches
the checkpoint directory the trainer just wrote. ``ray.train.get_checkpoint()`` is set
when Ray restarts a failed worker group or a restored trial: training then continues
from that checkpoint instead of epoch 0.

A loss that becomes non-finite or a batch that does not fit in memory fails the same way
on every retry, so neither is left to Ray's retries (which would rerun it from the last
checkpoint, twice per worker group and again per Tune retry): the worker reports a last
result carrying ``trial_failure`` (the reason) and ends. The searcher tells Optuna FAIL
and the summary shows the reason. Crashes (a killed worker, a lost node) still raise and
are retried from the checkpoint.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray.train
import torch

from ssl_core.config import Config, config_from_dict
from ssl_core.trainer import NonFiniteLossError, train

FAILURE_KEY = "trial_failure"
NODES_KEY = "train_nodes"  # the Ray node ids the trial's workers ran on, comma-separated


def worker_nodes() -> str:
    """Node ids of every rank (one all-gather at start): where the trial actually ran."""
    node = ray.get_runtime_context().get_node_id()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        nodes: list[str | None] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(nodes, node)
        return ",".join(sorted({str(n) for n in nodes}))
    return node


def out_of_memory_reason(cfg: Config, err: BaseException) -> str:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (f"out of memory at data.batch_size={cfg.data.batch_size} with {cfg.model.backbone} ({first_line[:200]}); "
            f"lower data.batch_size or data.crop_seconds, use a smaller backbone, or give each trial more GPU "
            f"memory (--gpus-per-trial 1)")


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """``loop_config``: ``{"config": Config.to_dict(), "run_dir": str, "metric": str}``."""
    cfg = config_from_dict(loop_config["config"]).validate()
    run_dir = Path(loop_config["run_dir"])
    resume_dir = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        # A local copy: the trainer reads it once at start, then it can go.
        resume_dir = Path(tempfile.mkdtemp(prefix="ssl-search-resume-"))
        checkpoint.to_directory(str(resume_dir))
    # Tune checks every result for the objective: the failure report repeats the last one.
    last: dict[str, Any] = {loop_config.get("metric", "knn_top1"): float("nan"), "epoch": 0,
                            NODES_KEY: worker_nodes()}

    def report(metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        last.update(metrics)
        attached = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report({**metrics, NODES_KEY: last[NODES_KEY]}, checkpoint=attached)

    try:
        train(cfg, report=report, run_dir=run_dir, resume_from=resume_dir)
    except NonFiniteLossError as err:
        ray.train.report({**last, FAILURE_KEY: f"non-finite loss: {err}"})
    except torch.OutOfMemoryError as err:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        ray.train.report({**last, FAILURE_KEY: out_of_memory_reason(cfg, err)})
    finally:
        if resume_dir is not None:
            shutil.rmtree(resume_dir, ignore_errors=True)
