"""``--mlflow [URI]``: every trial as an MLflow run, the search as their parent run (optional extra).

One MLflow experiment per search, named after it. Its parent run holds the search's params
(space, command) and, once the search is summarised, its result files as artifacts (summary,
trial table, figures, best config, test metrics, the best backbone and the Optuna journal);
each trial is a child run with its params and per-epoch metrics (step = epoch), logged from the
Tune driver by Ray Tune's own ``MLflowLoggerCallback``. A resumed search logs into the same runs
(found by the ``trial_name`` tag Ray sets and the parent's ``ssl_search.experiment`` tag).

The default store is a local folder, ``<storage>/mlflow`` (``mlflow.db``: MLflow's SQLite
tracking store; ``artifacts/``): one store for every search under a storage root, so
``mlflow ui`` compares them side by side. MLflow 3's plain-folder store (``./mlruns``) refuses new
runs ("maintenance mode"), hence SQLite. A value with a scheme (``http://``, ``sqlite:///``,
``databricks``) is used as it is. ``mlflow-skinny`` (the ``mlflow`` extra) logs and reads; the
``mlflow ui`` server comes with the full ``mlflow`` package.

Nothing here imports mlflow or ray at module level: :func:`check_available` runs before Ray starts.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL = "pip install -e '.[mlflow]'"
DEFAULT_FOLDER = "mlflow"  # under --storage
PARENT_TAG = "ssl_search.experiment"  # on the parent run: the experiment folder's name
RESULT_FILES = ("summary.md", "trials.csv", "best_config.yaml", "best_test_metrics.json", "best_backbone.pth",
                "best_backbone.yaml", "space.yaml", "launch.json", "optuna.journal")


@dataclass(frozen=True)
class MlflowTarget:
    uri: str  # the tracking URI
    artifact_root: str | None  # where a new experiment keeps its artifacts (None: the server decides)
    folder: Path | None = None  # a local store's folder (made before the first run)

    def ui_command(self) -> str:
        if self.artifact_root is None:
            return f"mlflow ui --backend-store-uri {self.uri}"
        return f"mlflow ui --backend-store-uri {self.uri} --default-artifact-root {self.artifact_root}"


def check_available() -> None:
    """Raise ImportError naming the install command when mlflow cannot be imported."""
    try:
        found = sys.modules.get("mlflow", True) is not None and importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ImportError(f"--mlflow needs MLflow, which is not installed here; install the extra with "
                          f"`{INSTALL}` (mlflow-skinny), or drop --mlflow")


def target(value: str, storage: Path) -> MlflowTarget:
    """``--mlflow`` (``value`` ''), ``--mlflow FOLDER`` or ``--mlflow URI`` -> where to log."""
    if "://" in value or value.startswith("databricks"):
        return MlflowTarget(uri=value, artifact_root=None)
    folder = (Path(value).expanduser() if value else Path(storage) / DEFAULT_FOLDER).resolve()
    return MlflowTarget(uri=f"sqlite:///{folder / 'mlflow.db'}", artifact_root=(folder / "artifacts").as_uri(),
                        folder=folder)


def _client(where: MlflowTarget):
    from mlflow.tracking import MlflowClient

    if where.folder is not None:
        where.folder.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=where.uri)


def _experiment_id(client: Any, where: MlflowTarget, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None if where.artifact_root is None else f"{where.artifact_root}/{name}"
    return client.create_experiment(name, artifact_location=location)


def start_parent(where: MlflowTarget, experiment: str, params: dict[str, Any]) -> str:
    """The search's parent run (the one a resumed search started, if any); returns its run id."""
    client = _client(where)
    experiment_id = _experiment_id(client, where, experiment)
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{experiment}'")
    if runs:
        return runs[0].info.run_id
    run = client.create_run(experiment_id, run_name=experiment, tags={PARENT_TAG: experiment})
    for key, value in params.items():
        client.log_param(run.info.run_id, key, str(value)[:6000])
    return run.info.run_id


def trial_callback(where: MlflowTarget, experiment: str, parent_run_id: str):
    """Ray Tune's MLflowLoggerCallback, each trial a child of the parent run, metrics by epoch."""
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class TrialRuns(MLflowLoggerCallback):
        def log_trial_start(self, trial) -> None:
            if trial not in self._trial_runs:  # a resumed search: the run this trial already has
                client = _client(where)
                runs = client.search_runs([self.mlflow_util.experiment_id],
                                          filter_string=f"tags.trial_name = '{trial}'")
                if runs:
                    self._trial_runs[trial] = runs[0].info.run_id
            super().log_trial_start(trial)

        def log_trial_result(self, iteration: int, trial, result: dict) -> None:
            # Step = epoch (Ray's uses training_iteration, which restarts when a trial is retried).
            step = int(result.get("epoch", result.get("training_iteration", 0)) or 0)
            self.mlflow_util.log_metrics(run_id=self._trial_runs[trial], metrics_to_log=result, step=step)

    _experiment_id(_client(where), where, experiment)  # created with its artifact folder before Ray's setup
    return TrialRuns(tracking_uri=where.uri, experiment_name=experiment, tags={"mlflow.parentRunId": parent_run_id})


def log_results(where: MlflowTarget, parent_run_id: str, experiment_dir: Path) -> str:
    """The search's result files and figures as artifacts of the parent run, which then ends."""
    client = _client(where)
    for name in RESULT_FILES:
        if (experiment_dir / name).is_file():
            client.log_artifact(parent_run_id, str(experiment_dir / name))
    if (experiment_dir / "figures").is_dir():
        client.log_artifacts(parent_run_id, str(experiment_dir / "figures"), artifact_path="figures")
    client.set_terminated(parent_run_id)
    return f"mlflow: runs in {where.uri} (parent run {parent_run_id}); browse with `{where.ui_command()}`"
