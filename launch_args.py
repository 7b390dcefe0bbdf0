"""launch.py's command line: the flags, their defaults and their help (checked in launch_checks.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent
DEFAULT_PROFILE = REPO / "cluster" / "workstation.yaml"
DEFAULT_SPACE = "simclr_temp"
SPACE_FILE = "space.yaml"  # <experiment>/space.yaml: the space as searched (budget flags applied)
LAUNCH_FILE = "launch.json"  # <experiment>/launch.json: the space's name, the command, the overrides


def parse_args(argv: list[str] | None = None, description: str | None = None) -> argparse.Namespace:
    """The flags of ``argv`` (``sys.argv`` when None); ``description`` heads ``--help`` (launch.py's docstring)."""
    p = argparse.ArgumentParser(prog="python launch.py", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", help=f"a shipped space name or a YAML file (default {DEFAULT_SPACE}; with --resume "
                                   f"or --summarise, the experiment's stored {SPACE_FILE})")
    p.add_argument("--list-spaces", action="store_true", help="print the shipped spaces, one line each")
    p.add_argument("--data", help="dataset: an embedded name (birdsong, birdsong-x2 ... birdsong-x16, digits) "
                                  "or a directory")
    p.add_argument("--trials", type=int, help="number of trials (default: the space's budget)")
    p.add_argument("--epochs", type=int, help="epochs per trial (default: the space's budget)")
    p.add_argument("--concurrent", type=int, help="trials at once (default: the space's, capped by resources)")
    p.add_argument("--profile", default=str(DEFAULT_PROFILE),
                   help="resource profile: trials per GPU, CPUs per trial (default cluster/workstation.yaml)")
    p.add_argument("--gpus-per-trial", type=float, default=None,
                   help="GPUs per trial; 0.5 lets two trials share a GPU (default: from --profile)")
    p.add_argument("--cpus-per-trial", type=float, default=None, help="CPUs per trial (default: from --profile)")
    p.add_argument("--workers-per-trial", type=int, default=None,
                   help="DDP workers per trial, each with a share of the trial's CPUs/GPUs (default: from --profile)")
    p.add_argument("--address", help="Ray cluster address ('auto' under ray job submit); default: a local Ray")
    p.add_argument("--storage", default=None,
                   help="results root, reachable by every node (default $SSL_SEARCH_STORAGE, else ./runs)")
    p.add_argument("--name", help="experiment name (default: <space>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the experiment --name under --storage")
    p.add_argument("--seed", type=int, default=0, help="Optuna sampler seed (default 0)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="change the space's base config, e.g. --override data.batch_size=32 (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="validate, print the space and the resource plan, exit")
    p.add_argument("--summarise", metavar="DIR",
                   help="write the summary, trial table, best config, test-split metrics, the backbone and "
                        "figures again from the experiment folder DIR alone (finished or interrupted); no Ray")
    p.add_argument("--warm-start", metavar="DIR",
                   help="seed this search's Optuna study with the finished trials of an earlier search's folder "
                        "whose parameters fit this space (the rest are listed and skipped); same objective needed")
    p.add_argument("--warm-start-repeat", action="store_true",
                   help="with --warm-start: let Optuna propose the earlier trials' configurations again (default: "
                        "a configuration the earlier search evaluated is not run again)")
    p.add_argument("--mlflow", nargs="?", const="", default=None, metavar="URI",
                   help="log each trial as an MLflow run (needs `pip install -e '.[mlflow]'`): a folder (default "
                        "<storage>/mlflow, an SQLite store) or a tracking URI (http://..., sqlite:///...)")
    args = p.parse_args(argv)
    # Resolved here, so that a check can say where an empty storage came from.
    args.storage_from_env = args.storage is None and "SSL_SEARCH_STORAGE" in os.environ
    args.storage = os.environ.get("SSL_SEARCH_STORAGE", "runs") if args.storage is None else args.storage
    return args
