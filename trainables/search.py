"""Run (or resume) one search: Optuna TPE proposes, ASHA prunes, each trial a Ray Train run.

Ray is started here, after ``launch.py`` has validated everything, with a ``trial_driver``
resource that caps how many trials run at once (docs/design.md, Ray and Optuna facts: the Tune trial itself
holds no CPU, or its own worker group may never start).
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from search_spaces import SearchSpace
from ssl_core.eval.collapse_rule import collapse_reason
from trainables.mlflow_log import MlflowTarget
from trainables.optuna_search import PruningAwareOptunaSearch, resume_study_in
from trainables.warm_start import WarmStart, import_trials
from trainables.trial import TRIAL_DRIVER, TrialResources, TrialSetup, make_trainable
from trainables.tune_space import tune_param_space


@dataclass(frozen=True)
class SearchPlan:
    space: SearchSpace  # trials / epochs / max_concurrent already set from the flags
    overrides: tuple[str, ...]
    storage_path: Path  # absolute; every node must reach it on a cluster
    experiment: str
    resources: TrialResources
    concurrent: int  # trials at once, from the resource plan
    seed: int = 0
    address: str | None = None  # None: start a local Ray
    warm_start: WarmStart | None = None  # an earlier search's trials for the study (--warm-start)
    repeat_imported: bool = False  # may propose the warm start's configurations again (--warm-start-repeat)
    mlflow: MlflowTarget | None = None  # log trials to MLflow (--mlflow)
    mlflow_parent: str | None = None  # the search's parent run there

    @property
    def experiment_dir(self) -> Path:
        return self.storage_path / self.experiment


class CollapseStopper(tune.Stopper):
    """Stops a trial whose evaluation shows collapse (see ssl_core.eval.collapse_rule)."""

    def __init__(self, grace_epochs: int) -> None:
        self.grace_epochs = grace_epochs

    def __call__(self, trial_id: str, result: dict) -> bool:
        return collapse_reason(result, self.grace_epochs) is not None

    def stop_all(self) -> bool:
        return False


@dataclass(frozen=True)
class ClusterResources:
    cpus: float
    gpus: float
    trial_drivers: float


def report_poll_seconds(resources: TrialResources) -> float:
    """How often a DDP trial's Train controller collects reports: 0.5 s with GPUs, 2 s on CPUs.

    (Single-worker trials report straight to Tune; trainables/trial.py.) A worker holds one
    unread report; its next ``ray.train.report`` waits for the poll, so an epoch shorter than
    the poll is stretched to it (Ray's queue of size 1; docs/design.md: 20 reports took 36 s at
    2 s). On a GPU an epoch of birdsong takes about a second, so a
    2 s poll would halve training speed; a GPU node has cores to spare for the faster poll.
    On CPUs each poll wakes a dozen Ray processes that take cores from training: on 2 cores
    a 0.5 s poll slowed a trial's training by ~30 % (a 6-epoch simclr_temp trial: 97 s at
    0.5 s, 72 s at 2 s, 63 s standalone; bench/ray_overhead.py), and epochs last 5 s or more.
    """
    return 0.5 if resources.gpus_per_worker > 0 else 2.0


def _pace_train_reports(seconds: float = 2.0) -> None:
    # Read by the Train controller, which inherits this process's environment only when this
    # process starts Ray; on a cluster (--address) the cluster's own setting (Ray's default,
    # 2 s) applies. Must be set before Ray starts. A value the user exported wins; the tests
    # set 0.5 (tests/conftest.py: their epochs last a second).
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", f"{seconds:g}")


def connect_cluster(address: str) -> ClusterResources:
    """Join a running cluster (starts nothing) and check it can run trials.

    Raises ConnectionError / RuntimeError with the fix when it is unreachable or lacks the
    ``trial_driver`` resource that every shipped cluster config gives its head.
    """
    _pace_train_reports()
    try:
        ray.init(address=address)
    except ConnectionError as err:
        raise ConnectionError(f"{err}; check the address and that the cluster is up (`ray status`), and, with "
                              f"token authentication, that RAY_AUTH_MODE=token and the cluster's token are set") from None
    total = ray.cluster_resources()
    resources = ClusterResources(cpus=total.get("CPU", 0.0), gpus=total.get("GPU", 0.0),
                                 trial_drivers=total.get(TRIAL_DRIVER, 0.0))
    if resources.trial_drivers < 1:
        ray.shutdown()
        raise RuntimeError(f"it has no {TRIAL_DRIVER!r} resource; start its head with "
                           f"--resources='{{\"{TRIAL_DRIVER}\": 8}}' (see cluster/)")
    return resources


def _free_loopback_port(preferred: int) -> int:
    """``preferred`` if nothing listens on it on loopback, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free loopback port for Ray's dashboard")


def start_ray(plan: SearchPlan) -> None:
    """Start a local Ray sized by the plan (``launch.py`` connects to clusters itself).

    Ray Train's placement-group cleaner finds "its" cluster through the State API, which
    auto-detects the address and fails when two local Rays run on one machine (two searches
    at once): the leaked placement group then starves the next trial forever. Every actor of
    this search is therefore told its dashboard's address (``RAY_API_SERVER_ADDRESS``); the
    dashboard listens on 127.0.0.1, on Ray's usual 8265 when free.
    """
    _pace_train_reports(report_poll_seconds(plan.resources))
    for attempt in range(3):
        # Another search starting at the same moment may take the port between the probe
        # and Ray's bind: then Ray fails to start its dashboard, and a fresh port is tried.
        port = _free_loopback_port(8265 if attempt == 0 else 0)
        try:
            ray.init(resources={TRIAL_DRIVER: plan.concurrent}, include_dashboard=True, dashboard_host="127.0.0.1",
                     dashboard_port=port, configure_logging=True, log_to_driver=True,
                     runtime_env={"env_vars": {"RAY_API_SERVER_ADDRESS": f"http://127.0.0.1:{port}"}})
        except Exception:  # noqa: BLE001 - Ray raises a bare Exception when its dashboard cannot start
            ray.shutdown()
            if attempt == 2:
                raise
            continue
        print(f"Ray dashboard: http://127.0.0.1:{port}", flush=True)
        return


def _scheduler(space: SearchSpace):
    sched = space.scheduler
    if sched.get("name") == "asha":
        return ASHAScheduler(time_attr="epoch", metric=space.metric, mode=space.mode, max_t=space.epochs,
                             grace_period=sched["grace_period"], reduction_factor=sched["reduction_factor"])
    return FIFOScheduler()


def _searcher(plan: SearchPlan) -> PruningAwareOptunaSearch:
    space = plan.space
    sampler = optuna.samplers.TPESampler(seed=plan.seed, multivariate=True,
                                         n_startup_trials=min(10, max(2, space.trials // 3)))
    # No seed= beside the sampler (Ray ignores it then, with a warning); the sampler has it.
    # evaluate_first: Ray's points_to_evaluate, which Optuna runs (enqueue_trial) before sampling.
    return PruningAwareOptunaSearch(metric=space.metric, mode=space.mode, sampler=sampler, full_epochs=space.epochs,
                                    points_to_evaluate=[dict(p) for p in space.evaluate_first] or None,
                                    study_dir=plan.experiment_dir, repeat_imported=plan.repeat_imported)


def _trainable(plan: SearchPlan):
    setup = TrialSetup(space=plan.space, overrides=plan.overrides, storage_path=str(plan.storage_path),
                       experiment=plan.experiment, resources=plan.resources)
    return tune.with_resources(make_trainable(setup), plan.resources.trial_resources())


def trial_retries(resources: TrialResources) -> int:
    """Restarts of a crashed trial. A Train run restarts its own worker group (twice) before
    the trial fails, so Tune adds one; a direct trial has only Tune's: three restarts either way."""
    return 3 if resources.direct else 1


def run_search(plan: SearchPlan, resume: bool = False) -> tune.ResultGrid:
    """Fit the Tuner (or restore it from ``plan.experiment_dir``) and return its results."""
    trainable = _trainable(plan)
    if resume:  # the searcher and the MLflow callback come back from Tune's saved state
        with resume_study_in(plan.experiment_dir):
            tuner = tune.Tuner.restore(str(plan.experiment_dir), trainable=trainable, resume_errored=True)
            return tuner.fit()
    space = plan.space
    grace = space.scheduler.get("grace_period", 1)
    if plan.warm_start is not None:
        import_trials(plan.experiment_dir, space, plan.warm_start)
    callbacks = []
    if plan.mlflow is not None and plan.mlflow_parent is not None:
        from trainables.mlflow_log import trial_callback

        callbacks.append(trial_callback(plan.mlflow, plan.experiment, plan.mlflow_parent))
    tuner = tune.Tuner(
        trainable,
        param_space=tune_param_space(space),
        tune_config=tune.TuneConfig(search_alg=_searcher(plan), scheduler=_scheduler(space),
                                    num_samples=space.trials, max_concurrent_trials=plan.concurrent),
        run_config=tune.RunConfig(name=plan.experiment, storage_path=str(plan.storage_path),
                                  stop=CollapseStopper(grace), callbacks=callbacks,
                                  failure_config=tune.FailureConfig(max_failures=trial_retries(plan.resources)),
                                  # The newest two: what a restarted trial resumes from (the
                                  # trainer keeps the best beside them, under <trial>/ssl/).
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=2)),
    )
    return tuner.fit()


def concurrent_trials(space: SearchSpace, resources: TrialResources, cpus: float, gpus: float) -> int:
    """How many trials fit at once on ``cpus``/``gpus``, capped by the space's max_concurrent."""
    by_cpu = math.floor(cpus / (resources.workers * resources.cpus_per_worker) + 1e-9)
    fits = by_cpu
    if resources.gpus_per_worker:
        fits = min(fits, math.floor(gpus / (resources.workers * resources.gpus_per_worker) + 1e-9))
    return max(0, min(space.max_concurrent, fits))
