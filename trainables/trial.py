"""The Tune function trainable: one search trial, trained in the trial itself or by Ray Train.

* One worker (the usual trial: one GPU, a GPU fraction, or some CPUs): the trainer runs in
  the Tune trial's own process, which holds the trial's CPUs and GPU (on any node; launch.py
  caps trials at once). Ray Train's worker group would add a controller and five helper
  actors per trial (the main thread of each waking ~100 times a second), a second process,
  gloo and ~15 s of start-up per trial, for no gain with one worker: on 2 CPU cores that
  cost a trial 17-28 % over the standalone run (``bench/ray_overhead.py``; now 4-6 %), and
  on a GPU the start-up alone is longer than a short trial's training. Tune restarts a crashed trial from its newest checkpoint.
* Several workers (DDP): one Ray Train ``TorchTrainer`` run. The Tune trial holds only a
  ``trial_driver`` resource; the Train workers hold the real CPUs and GPUs (docs/design.md, Ray and Optuna facts: a
  CPU-holding driver can starve its own worker group). The Train run is named after the
  Tune trial id, so a restarted trial finds its own checkpoints. A rank out of memory ends
  the Train run (``RankOutOfMemoryError``); the trial then reports the failure, as a
  single-worker trial does, instead of being retried by Tune.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import ray.tune
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig, TrainingFailedError
from ray.train.torch import TorchTrainer
from ray.tune import PlacementGroupFactory
from ray.tune.integration.ray_train import TuneReportCallback

from search_spaces import SearchSpace, resolve_config
from ssl_core.config import Config
from ssl_core.trainer import train
from trainables.trial_folder import trial_number, trial_run_dir
from trainables.worker_loop import RankOutOfMemoryError, TrainFn, direct_trial, train_loop_per_worker

TRIAL_DRIVER = "trial_driver"


@dataclass(frozen=True)
class TrialResources:
    """What each Train worker of a trial holds. Fractional GPUs only with one worker."""

    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0

    def scaling_config(self) -> ScalingConfig:
        resources: dict[str, float] = {"CPU": self.cpus_per_worker}
        if self.gpus_per_worker:
            resources["GPU"] = self.gpus_per_worker
        return ScalingConfig(num_workers=self.workers, use_gpu=self.gpus_per_worker > 0,
                             resources_per_worker=resources)

    @property
    def direct(self) -> bool:
        """One worker: trained in the Tune trial itself, without Ray Train."""
        return self.workers == 1

    def trial_resources(self) -> PlacementGroupFactory:
        """What the Tune trial holds: the worker's CPUs and GPU when it trains itself (on any
        node; launch.py caps trials at once), else a ``trial_driver`` on the head (the Train
        workers hold the rest, anywhere)."""
        if not self.direct:
            return PlacementGroupFactory([{TRIAL_DRIVER: 1}])
        bundle = {"CPU": self.cpus_per_worker}
        if self.gpus_per_worker:
            bundle["GPU"] = self.gpus_per_worker
        return PlacementGroupFactory([bundle])


@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial needs besides its sampled parameters (picklable, sent to Ray)."""

    space: SearchSpace
    overrides: tuple[str, ...]
    storage_path: str
    experiment: str
    resources: TrialResources = field(default_factory=TrialResources)
    worker_failures: int = 2


def trial_config(setup: TrialSetup, params: dict[str, Any], number: int = 1) -> Config:
    """The space's base config, this trial's sampled values and the user's overrides, validated
    (once: the params arrived from the searcher in another process). Trial ``number`` trains
    with seed ``train.seed + number - 1``: two trials of the same configuration are two
    samples of it, not one run twice (the first trial keeps the base seed)."""
    return resolve_config(setup.space, params, setup.overrides, seed_offset=number - 1)


def fit_train_run(trainer: TorchTrainer) -> None:
    """Run a multi-worker trial's Train run; a rank out of memory becomes the trial's failure result.

    Ray Train has already restarted the worker group ``worker_failures`` times by then (an
    out-of-memory caused by a neighbour's allocation may pass); every other error is raised
    for Tune to retry.
    """
    try:
        trainer.fit()
    except TrainingFailedError as err:
        failures = getattr(err, "worker_failures", None) or {}
        oom = next((e for e in failures.values() if isinstance(e, RankOutOfMemoryError)), None)
        if oom is None:
            raise
        ray.tune.report(oom.last)


def search_trial_config(setup: TrialSetup, params: dict[str, Any], trial_dir: Path) -> Config:
    """A search trial's config: the sampled params, seeded by the trial's number."""
    return trial_config(setup, params, trial_number(trial_dir.name))


ConfigOf = Callable[[TrialSetup, dict[str, Any], Path], Config]


def make_trainable(setup: TrialSetup, train_fn: TrainFn = train, config_of: ConfigOf = search_trial_config):
    """A Tune function trainable closed over ``setup``; ``train_fn`` is the trainer (tests swap it);
    ``config_of(setup, params, trial_dir)`` turns Tune's params into the run's config (the
    search's sampled params by default; the confirmation stage's candidate and seed)."""

    def run_trial(params: dict[str, Any]) -> None:
        context = ray.tune.get_context()
        trial_id = context.get_trial_id()
        # get_trial_dir() is a staging path; its basename names the trial's storage folder.
        trial_dir = Path(setup.storage_path) / setup.experiment / Path(context.get_trial_dir()).name
        cfg = config_of(setup, params, trial_dir)
        if setup.resources.direct:
            direct_trial(cfg, trial_run_dir(trial_dir), train_fn)
            return
        loop_config = {"config": cfg.to_dict(), "run_dir": str(trial_run_dir(trial_dir))}
        trainer = TorchTrainer(
            functools.partial(train_loop_per_worker, train_fn=train_fn),
            train_loop_config=loop_config,
            scaling_config=setup.resources.scaling_config(),
            run_config=RunConfig(
                name=f"train-{trial_id}",
                storage_path=str(Path(setup.storage_path) / setup.experiment / "train_runs"),
                callbacks=[TuneReportCallback()],
                failure_config=FailureConfig(max_failures=setup.worker_failures),
                # Ray keeps the newest two (what a restarted worker group resumes from); the
                # trainer keeps the best objective beside them, under <trial>/ssl/checkpoints/best.
                checkpoint_config=CheckpointConfig(num_to_keep=2),
            ),
        )
        fit_train_run(trainer)

    return run_trial
