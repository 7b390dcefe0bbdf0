"""Faults at random (issue 18): a small real search whose trial processes are killed at random
moments ends exactly as the same search left alone.

``tests/test_faults.py`` kills one process at a chosen moment. Here a bounded loop (a seeded
generator: the moments are random but the same on every run; at most MAX_KILLS kills, one per
trial, within CHAOS_S seconds) SIGKILLs the process that trains a trial (Tune's
``ImplicitFunc`` actor, by pid) while the search runs on a local Ray on loopback. Tune restarts
each killed trial from its last checkpoint and the trainer resumes exactly (model, optimiser,
sampler and generator state), so:

- every trial still finishes, and no epoch is trained twice (each trial's ``result.json``
  holds the trained epochs 1..N once each, in order). Epoch 0 (the untrained network's
  evaluation) has no checkpoint: a kill before epoch 1's evaluates it again, a second
  epoch-0 row (found by this test; harmless, nothing is trained);
- ``trials.csv`` (params, best objective and its interval, best epoch, last metrics, outcome),
  the test-split metrics and ``verdict.json`` equal those of an undisturbed run of the same
  search with the same seeds, wall-clock cells and Tune's random trial ids aside.

Slow (two searches of 2 trials x 5 epochs: about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.test_faults import FAULT_BASE, REPO, _launch, _max_epoch, _results, _trial_dirs
from tests.tiny import tiny_space_text

pytestmark = pytest.mark.slow

TRIALS, EPOCHS = 2, 5
MAX_KILLS = TRIALS  # one per trial at most (Tune restarts a trial 3 times before it gives up)
CHAOS_S = 600  # the chaos loop stops after this, killed or not
SEED = 18  # the chaos loop's generator: random moments, the same on every run
WALL_CLOCK = {"trial", "seconds"}  # trial folder names hold Tune's random ids; seconds is timing


def _space(tmp: Path) -> Path:
    path = tmp / "space.yaml"
    path.write_text(tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=TRIALS, epochs=EPOCHS,
                                    concurrent=1, base=FAULT_BASE, description="chaos-test search"))
    return path


def _args(space: Path, storage: Path, name: str) -> list[str]:
    return ["--space", str(space), "--storage", str(storage), "--name", name, "--seed", "3",
            "--override", "train.max_steps_per_epoch=8"]


def _trainers(root_pid: int) -> list[psutil.Process]:
    """The processes training a trial (Tune's function-trainable actors) under ``root_pid``."""
    found = []
    for child in psutil.Process(root_pid).children(recursive=True):
        try:
            if "ImplicitFunc" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def _table(experiment: Path) -> list[dict[str, str]]:
    """trials.csv without wall-clock cells, in the order of the searched params (not trial ids)."""
    rows = [{k: v for k, v in row.items() if k not in WALL_CLOCK}
            for row in csv.DictReader((experiment / "trials.csv").open())]
    return sorted(rows, key=lambda r: r["method.temperature"])


def _same_apart_from_ids(experiment: Path, name: str) -> str:
    """A result file's text with Tune's random trial ids (8 hex digits) left out."""
    return re.sub(r"\b[0-9a-f]{8}\b", "<id>", json.dumps(json.loads((experiment / name).read_text()), sort_keys=True))


def _chaos(proc: subprocess.Popen, experiment: Path) -> list[tuple[str, int]]:
    """Kill a training process at random moments; (trial folder, its epoch when killed) per kill."""
    rng = random.Random(SEED)
    kills: list[tuple[str, int]] = []
    killed_trials: set[str] = set()
    deadline = time.time() + CHAOS_S
    while proc.poll() is None and len(kills) < MAX_KILLS and time.time() < deadline:
        time.sleep(rng.uniform(2.0, 8.0))
        running = [t for t in _trial_dirs(experiment) if t.name not in killed_trials and _max_epoch(t) < EPOCHS]
        victims = _trainers(proc.pid)
        if not running or not victims:
            continue
        trial = running[-1]  # concurrent=1: the newest unfinished trial is the one training
        victim = rng.choice(victims)
        try:
            os.kill(victim.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue  # it ended on its own between the look and the kill
        kills.append((trial.name, _max_epoch(trial)))
        killed_trials.add(trial.name)
    return kills


def test_random_kills_leave_the_same_search_as_no_kills(tmp_path: Path) -> None:
    space = _space(tmp_path)
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    calm = _launch(_args(space, tmp_path / "runs", "calm"), env=env)
    out, _ = calm.communicate(timeout=900)
    assert calm.returncode == 0, out[-4000:]

    storage = tmp_path / "runs"
    # Its output goes to a file: the chaos loop does not read a pipe, and a driver whose stdout
    # pipe is full blocks in Tune's progress report (the search then never ends).
    log = tmp_path / "chaos.log"
    with log.open("w") as sink:
        chaotic = subprocess.Popen([sys.executable, "launch.py", *_args(space, storage, "chaos")], cwd=REPO,
                                   text=True, stdout=sink, stderr=subprocess.STDOUT, env=env)
        kills = _chaos(chaotic, storage / "chaos")
        chaotic.wait(timeout=900)
    assert chaotic.returncode == 0, log.read_text()[-4000:]
    assert kills, "the chaos loop killed nothing: the search ended before its first kill"

    trials = _trial_dirs(storage / "chaos")
    assert len(trials) == TRIALS  # a killed trial is restarted, not replaced by a new one
    for trial in trials:
        epochs = [int(r["epoch"]) for r in _results(trial)]
        assert epochs[0] == 0 and set(epochs[:-EPOCHS]) == {0}, (trial.name, epochs)  # epoch 0 may repeat
        assert epochs[-EPOCHS:] == list(range(1, EPOCHS + 1)), (trial.name, epochs)  # trained once, in order
    resumed = {t.name for t in trials if any(r.get("resumed_from_epoch", 0) > 0 for r in _results(t))}
    assert {name for name, epoch in kills if epoch >= 1} <= resumed, (kills, resumed)
    assert _table(storage / "chaos") == _table(tmp_path / "runs" / "calm"), kills
    for name in ("best_test_metrics.json", "verdict.json"):
        assert _same_apart_from_ids(storage / "chaos", name) == _same_apart_from_ids(storage / "calm", name), name
