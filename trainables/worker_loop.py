"""What runs a trial's training: ``ssl_core.trainer.train`` with Ray's report and resume.

Two ways in, one body (``run_with_reports``):

* ``train_loop_per_worker``: each Ray Train worker of a multi-worker (DDP) trial. Every rank
  calls ``ray.train.report`` at each evaluation (Ray requires it); rank 0 attaches the
  checkpoint directory the trainer just wrote.
* ``direct_trial``: a single-worker trial, run inside the Tune trial itself (``ray.tune.report``),
  without Ray Train's worker group (trainables/trial.py says why).

The checkpoint Ray hands back (``get_checkpoint()``) is set when Ray restarts a failed worker
group or trial, or restores an interrupted search: training then continues from it instead of
epoch 0.

A loss that becomes non-finite or a batch that does not fit in memory fails the same way
on every retry, so neither is left to Ray's retries (which would rerun it from the last
checkpoint): the trial reports a last result carrying ``trial_failure`` (the reason) and
ends. The searcher tells Optuna FAIL and the summary shows the reason. Crashes (a killed
worker, a lost node) still raise and are retried from the checkpoint.

One exception: out of memory on one rank of a multi-worker trial raises
:class:`RankOutOfMemoryError` instead of reporting (see there why); the Tune trial turns it
into the same failure result (``trainables/trial.py``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import ray
import ray.train
import ray.tune
import torch

from ssl_core.checkpoint import read_checkpoint
from ssl_core.config import Config, config_from_dict
from ssl_core.distributed import world_size
from ssl_core.memory import is_out_of_memory, out_of_memory_reason
from ssl_core.trainer import NonFiniteLossError, train

FAILURE_KEY = "trial_failure"
NODES_KEY = "train_nodes"  # the Ray node ids the trial's workers ran on, comma-separated
RESUMED_KEY = "resumed_from_epoch"  # the checkpoint epoch this run started from; 0: a fresh start
# torch's intra-op threads in the training process: Ray sets OMP_NUM_THREADS to the CPUs the
# trial holds, so concurrent trials do not oversubscribe the cores; reported so a mismatch shows.
THREADS_KEY = "torch_threads"
TrainFn = Callable[..., dict[str, float]]  # ssl_core.trainer.train's signature


class RankOutOfMemoryError(RuntimeError):
    """One rank of a multi-worker (DDP) trial ran out of memory; ``last`` is its failure result.

    Raised rather than reported: the other ranks may be waiting in a collective this rank will
    never join (DDP's gradient all-reduce, the evaluation's broadcast), and Ray Train's report
    waits for every rank, so a report here would hang the trial until the process group's
    timeout (30 minutes; measured: a one-rank report still hung after 150 s). An exception
    makes Ray Train stop the whole worker group within seconds (it kills ranks that do not
    exit); after its worker-group restarts the Tune trial reports ``last``
    (``trainables.trial.fit_train_run``).
    """

    def __init__(self, reason: str, last: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.last = last

    def __reduce__(self):  # Ray pickles worker exceptions: keep both fields
        return (type(self), (self.reason, self.last))


def worker_nodes() -> str:
    """Node ids of every rank (one all-gather at start): where the trial actually ran."""
    node = ray.get_runtime_context().get_node_id()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        nodes: list[str | None] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(nodes, node)
        return ",".join(sorted({str(n) for n in nodes}))
    return node


def run_with_reports(cfg: Config, run_dir: Path, api: ModuleType, train_fn: TrainFn = train) -> None:
    """Train the validated ``cfg`` into ``run_dir``, reporting every evaluation to Ray.

    ``api`` is ``ray.train`` (a Train worker) or ``ray.tune`` (a Tune trial): both offer the
    same ``get_checkpoint``, ``report(metrics, checkpoint=...)`` and ``Checkpoint``. Resumes
    from Ray's checkpoint when there is one. ``train_fn`` is the trainer (tests pass one that
    runs out of memory on one rank).
    """
    run_dir = Path(run_dir)
    resume_dir = None
    checkpoint = api.get_checkpoint()
    if checkpoint is not None:
        # A local copy: the trainer reads it once at start, then it can go.
        resume_dir = Path(tempfile.mkdtemp(prefix="ssl-search-resume-"))
        checkpoint.to_directory(str(resume_dir))
    resumed_from = int(read_checkpoint(resume_dir)["epoch"]) if resume_dir is not None else 0
    # Tune checks every result for the objective: the failure report repeats the last one.
    context = {NODES_KEY: worker_nodes(), RESUMED_KEY: resumed_from,  # added to every report
               THREADS_KEY: torch.get_num_threads()}
    last: dict[str, Any] = {cfg.eval.objective: float("nan"), "epoch": resumed_from, **context}

    def ray_report(metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        attached = api.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        api.report(metrics, checkpoint=attached)

    def report(metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        last.update(metrics)
        ray_report({**metrics, **context}, checkpoint_dir)

    try:
        train_fn(cfg, report=report, run_dir=run_dir, resume_from=resume_dir)
    except NonFiniteLossError as err:
        ray_report({**last, FAILURE_KEY: f"non-finite loss: {err}"}, None)
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise  # a crash: Ray retries it from the last checkpoint
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        failure = {**last, FAILURE_KEY: out_of_memory_reason(cfg, err)}
        if world_size() > 1:
            raise RankOutOfMemoryError(failure[FAILURE_KEY], failure) from err
        ray_report(failure, None)
    finally:
        if resume_dir is not None:
            shutil.rmtree(resume_dir, ignore_errors=True)


def train_loop_per_worker(loop_config: dict[str, Any], train_fn: TrainFn = train) -> None:
    """One Ray Train worker of a multi-worker trial; ``loop_config`` is
    ``{"config": Config.to_dict(), "run_dir": str}``. The config crossed a process boundary
    (Ray pickled it to this worker), so it is validated here, once."""
    cfg = config_from_dict(loop_config["config"]).validate()
    run_with_reports(cfg, Path(loop_config["run_dir"]), ray.train, train_fn)


def direct_trial(cfg: Config, run_dir: Path, train_fn: TrainFn = train) -> None:
    """A single-worker trial, run in the Tune trial's own process with the config it resolved."""
    run_with_reports(cfg, run_dir, ray.tune, train_fn)
