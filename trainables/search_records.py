"""What launch.py does about a search's records beyond its trial folders: the Optuna study on disk,
``--warm-start`` and ``--mlflow``. Checked before Ray starts; written after the results.

Imported by launch.py before anything is checked, so it imports little: Optuna, the study and
the warm start's readers are imported where a flag needs them. No Ray.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from search_spaces import SearchSpace
from trainables import mlflow_log

if TYPE_CHECKING:
    from trainables.warm_start import WarmStart


class RecordsError(ValueError):
    """A --warm-start / --mlflow flag that cannot work; the message names the problem and the fix."""


@dataclass(frozen=True)
class Records:
    warm_start: "WarmStart | None" = None
    mlflow: mlflow_log.MlflowTarget | None = None


def prepare(args: argparse.Namespace, space: SearchSpace, overrides: Sequence[str], storage: Path,
            stored_space: Callable[[Path], SearchSpace | None]) -> Records:
    """Check --warm-start, --warm-start-repeat and --mlflow (before Ray); the earlier trials that fit.

    ``stored_space``: launch.py's reader of an experiment's ``space.yaml`` (None when it has none).
    """
    if args.warm_start_repeat and not args.warm_start:
        raise RecordsError("--warm-start-repeat only applies with --warm-start <earlier experiment>; drop it")
    target = None
    if args.mlflow is not None:
        try:
            mlflow_log.check_available()
        except ImportError as err:
            raise RecordsError(str(err)) from None
        target = mlflow_log.target(args.mlflow, storage)
    if not args.warm_start:
        return Records(mlflow=target)
    if args.resume:
        raise RecordsError("--warm-start with --resume: a resumed search keeps the study it began with (its "
                           "imported trials included); drop --warm-start")
    earlier = Path(args.warm_start).expanduser().resolve()
    earlier_space = stored_space(earlier) if earlier.is_dir() else None
    if earlier_space is None:
        raise RecordsError(f"--warm-start {args.warm_start}: {earlier} is not a search's experiment folder (it holds "
                           f"no space.yaml); pass the folder of an earlier search, e.g. runs/simclr_temp-20250101-120000")
    from trainables.warm_start import WarmStartError, plan_warm_start

    meta = earlier / "launch.json"
    earlier_overrides = json.loads(meta.read_text(encoding="utf-8")).get("overrides", []) if meta.is_file() else []
    try:
        plan = plan_warm_start(earlier, earlier_space, earlier_overrides, space, overrides)
    except (WarmStartError, ValueError) as err:
        raise RecordsError(str(err)) from None
    if not plan.trials:
        raise RecordsError(f"--warm-start {args.warm_start}: none of its {len(plan.skipped)} finished trial(s) fits "
                           f"this space ({plan.skipped[0][1] if plan.skipped else 'it has none'}); widen the space "
                           f"or drop --warm-start")
    return Records(warm_start=plan, mlflow=target)


def after_results(experiment_dir: Path, mlflow: mlflow_log.MlflowTarget | None = None,
                  parent_run: str | None = None) -> list[str]:
    """Console lines after the result files: the search's MLflow parent run, when it logs to MLflow.

    (The Optuna study and how to open it are the summary's, ``trainables.results.write_results``.)
    """
    if mlflow is not None and parent_run is not None:
        return [mlflow_log.log_results(mlflow, parent_run, experiment_dir)]
    return []
