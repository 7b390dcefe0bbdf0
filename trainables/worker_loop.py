"""What runs on each Ray Train worker: ``ssl_core.trainer.train`` with Ray's report and resume.

Every rank calls ``ray.train.report`` at each evaluation (Ray requires it); rank 0 attaches
the checkpoint directory the trainer just wrote. ``ray.train.get_checkpoint()`` is set
when Ray restarts a failed worker group or a restored trial: training then continues
from that checkpoint instead of epoch 0.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray.train

from ssl_core.config import config_from_dict
from ssl_core.trainer import train


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """``loop_config``: ``{"config": Config.to_dict(), "run_dir": str}``."""
    cfg = config_from_dict(loop_config["config"]).validate()
    run_dir = Path(loop_config["run_dir"])
    resume_dir = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        # A local copy: the trainer reads it once at start, then it can go.
        resume_dir = Path(tempfile.mkdtemp(prefix="ssl-search-resume-"))
        checkpoint.to_directory(str(resume_dir))

    def report(metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        attached = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report(dict(metrics), checkpoint=attached)

    try:
        train(cfg, report=report, run_dir=run_dir, resume_from=resume_dir)
    finally:
        if resume_dir is not None:
            shutil.rmtree(resume_dir, ignore_errors=True)
