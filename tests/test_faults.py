"""Faults a long search meets, on real processes killed by pid: a diverging trial, a trial
out of memory, a killed trial or Train worker, a driver stopped by SIGKILL, a lost node.

Each test runs ``launch.py`` (or a two-node cluster) for real; slow (1-3 min each).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.ray_cluster import LocalRayCluster
from tests.tiny import tiny_space_text

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Three steps per epoch, evaluation without the probe and clustering: the faults, not the metrics.
FAULT_BASE = {"train": {"max_steps_per_epoch": 3}, "eval": {"linear_probe": "never", "clustering": False}}
TEMPERATURE = {"method.temperature": {"loguniform": [0.05, 1.0]}}


def _space(tmp_path: Path, params: dict, *, trials: int, epochs: int, concurrent: int,
           searched: tuple[str, ...] = (), evaluate_first: list[dict] | None = None) -> Path:
    """A tiny space over FAULT_BASE without early stopping; ``searched``: base keys left out."""
    path = tmp_path / "space.yaml"
    text = tiny_space_text(params, trials=trials, epochs=epochs, concurrent=concurrent, base=FAULT_BASE,
                           searched=searched, description="fault-test search")
    if evaluate_first:
        text += yaml.safe_dump({"evaluate_first": evaluate_first}, sort_keys=False)
    path.write_text(text)
    return path


def _launch(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "launch.py", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def _results(trial_dir: Path) -> list[dict]:
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _max_epoch(trial_dir: Path) -> int:
    return max((int(r.get("epoch", 0)) for r in _results(trial_dir)), default=0)


def _wait_for(condition, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"launch.py ended early:\n{proc.stdout.read()[-4000:]}")
        time.sleep(0.5)
    raise AssertionError("timed out waiting")


def _trial_dirs(experiment: Path) -> list[Path]:
    """Trial folders in the order Tune created them (run_trial_<id>_<index>_<params>)."""
    return sorted(experiment.glob("run_trial_*"), key=lambda p: int(p.name.split("_")[3]))


def _state_mentions(experiment: Path, trial_dir: Path) -> bool:
    """Tune's experiment checkpoint (what --resume reads) already knows this trial."""
    trial_id = trial_dir.name.split("_")[2]
    return any(trial_id in p.read_text() for p in experiment.glob("experiment_state-*.json"))


def _rows(experiment: Path) -> list[dict]:
    return list(csv.DictReader((experiment / "trials.csv").open()))


def test_diverging_and_out_of_memory_trials_fail_with_reasons_and_the_search_goes_on(tmp_path) -> None:
    # lr 1e15 with SGD diverges; batch 300 of 3 s crops does not fit the 5 GB cap
    # (train.memory_limit_gb, RLIMIT_DATA on the CPU) that batch 16 fits. Peak VmData of the
    # trainer alone (no Ray) measured 2.0 GB at batch 16 and 7.0 GB at batch 300; a Ray worker
    # adds about 1 GB (1.0 GB after importing torch and timm).
    # TPE ignores failed trials, so until one completes it draws at random: evaluate_first makes
    # sure the search meets each kind of trial whatever the draws, and a fourth trial, proposed
    # after both failures, shows the search going on (six trials showed nothing more).
    space = _space(tmp_path, {"optim.lr": {"choice": [0.002, 1.0e15]}, "data.batch_size": {"choice": [16, 300]}},
                   trials=4, epochs=2, concurrent=2, searched=("optim.lr", "data.batch_size"),
                   evaluate_first=[{"optim.lr": 1.0e15, "data.batch_size": 16}, {"optim.lr": 0.002, "data.batch_size": 300},
                                   {"optim.lr": 0.002, "data.batch_size": 16}])
    storage = tmp_path / "runs"
    proc = _launch(["--space", str(space), "--storage", str(storage), "--name", "faulty", "--seed", "3",
                    "--override", "optim.name=sgd", "--override", "train.memory_limit_gb=5",
                    "--override", "data.crop_seconds=3.0", "--override", "model.backbone=resnet10t"])
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, out[-4000:]
    rows = _rows(storage / "faulty")
    assert len(rows) == 4, "every trial ran; the failures did not stop the search"
    diverged = [r for r in rows if r["status"].startswith("failed: non-finite loss")]
    oom = [r for r in rows if r["status"].startswith("failed: out of memory at data.batch_size=300")]
    healthy = [r for r in rows if r["status"] == "completed"]
    assert diverged and oom and healthy, [r["status"][:60] for r in rows]
    assert all(float(r["optim.lr"]) > 1 and int(r["data.batch_size"]) == 16 for r in diverged)
    assert all(int(r["data.batch_size"]) == 300 for r in oom)
    assert all(float(r["optim.lr"]) < 1 and int(r["data.batch_size"]) == 16 for r in healthy)
    # Each failure ran once: Ray did not retry a deterministic failure from a checkpoint.
    for row in diverged + oom:
        assert all(r.get("resumed_from_epoch", 0) == 0 for r in _results(storage / "faulty" / row["trial"]))
    summary = (storage / "faulty" / "summary.md").read_text()
    assert "lower optim.lr" in summary and "lower data.batch_size" in summary
    assert "failed" in summary.split("trials:")[1].splitlines()[0]
    best = (storage / "faulty" / "best_config.yaml").read_text()
    assert "batch_size: 16" in best  # the best is a healthy trial


def _training_processes(root_pid: int, marker: str) -> list[psutil.Process]:
    """Ray processes under ``root_pid`` whose title contains ``marker``."""
    found = []
    for child in psutil.Process(root_pid).children(recursive=True):
        try:
            if marker in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.parametrize(("flags", "marker"), [
    ([], "ImplicitFunc"),  # one worker: the Tune trial trains itself; Tune restarts it
    (["--workers-per-trial", "2"], "RayTrainWorker"),  # DDP: Ray Train restarts its worker group
], ids=["single-worker-trial", "ddp-train-worker"])
def test_a_killed_training_process_is_restarted_from_its_checkpoint(tmp_path, flags, marker) -> None:
    space = _space(tmp_path, {"method.temperature": {"loguniform": [0.1, 0.5]}}, trials=1, epochs=10, concurrent=1)
    storage = tmp_path / "runs"
    # result.json reaches the storage folder when Tune checkpoints the experiment (every 10 s
    # by default): a 1 s period, and epochs of 12 steps (a DDP epoch of 3 took 0.3 s), keep
    # the kill inside the run.
    proc = _launch(["--space", str(space), "--storage", str(storage), "--name", "killed-worker",
                    "--override", "train.max_steps_per_epoch=12", *flags],
                   env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"})
    experiment = storage / "killed-worker"
    trial = lambda: next(iter(experiment.glob("run_trial_*")), None)  # noqa: E731
    _wait_for(lambda: trial() is not None and _max_epoch(trial()) >= 2 and _training_processes(proc.pid, marker),
              600, proc)
    victim = _training_processes(proc.pid, marker)[0]
    os.kill(victim.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    results = _results(trial())
    resumed = [r for r in results if r.get("resumed_from_epoch", 0) > 0]
    assert resumed, "the restarted trial resumed from a checkpoint"
    start = resumed[0]["resumed_from_epoch"]
    assert 2 <= start < 10, start  # the newest checkpoint before the kill, not epoch 0
    assert resumed[0]["epoch"] == start + 1  # its first report is the next epoch
    epochs = [r["epoch"] for r in results]
    assert epochs == list(range(11)), epochs  # every epoch once: nothing lost, nothing duplicated
    assert _rows(experiment)[0]["status"] == "completed"
    if not flags:  # a single-worker trial's checkpoints are Tune's: it keeps the newest two of 10
        assert len(list(trial().glob("checkpoint_*"))) == 2


def test_a_driver_killed_with_sigkill_resumes_its_search(tmp_path) -> None:
    space = _space(tmp_path, TEMPERATURE, trials=3, epochs=6, concurrent=1)
    storage = tmp_path / "runs"
    # Longer epochs than the other tests: the kill must land while a later trial is mid-way,
    # after Tune's experiment checkpoint has recorded it. Tune writes that checkpoint at most
    # every 10 s by default, long enough for a whole 6-epoch trial to start and finish unseen
    # (CI once killed the driver just after the second trial ended); a 1 s period keeps the
    # window open for several epochs. The mechanism under test (resume from what was saved)
    # is the same at any period.
    args = ["--space", str(space), "--storage", str(storage), "--name", "sigkill",
            "--override", "train.max_steps_per_epoch=10"]
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    proc = _launch(args, start_new_session=True, env=env)
    experiment = storage / "sigkill"
    trials = lambda: _trial_dirs(experiment)  # noqa: E731

    def a_later_trial_is_mid_way_and_saved() -> bool:
        # One trial finished; a later one has a checkpoint (epoch >= 1 reported) with epochs
        # left to train (<= 4, so it cannot finish before the kill lands), and Tune's
        # experiment checkpoint already records it.
        found = trials()
        return (len(found) >= 2 and _max_epoch(found[0]) >= 6
                and any(1 <= _max_epoch(t) <= 4 and _state_mentions(experiment, t) for t in found[1:]))

    _wait_for(a_later_trial_is_mid_way_and_saved, 900, proc)
    leftovers = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    for child in leftovers:  # the local Ray the driver started (gcs, raylet, workers), by pid
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(leftovers, timeout=30)
    before = {t.name: _results(t) for t in trials()}
    finished = [name for name, results in before.items() if max((r["epoch"] for r in results), default=0) >= 6]
    assert finished

    resumed = _launch(args + ["--resume"], env=env)
    out, _ = resumed.communicate(timeout=1200)
    assert resumed.returncode == 0, out[-4000:]
    after = {t.name: _results(t) for t in trials()}
    assert len(after) == 3, sorted(after)  # the searcher's history was restored: no extra trials
    for name in finished:
        assert after[name] == before[name], f"{name} finished before the kill and was re-run"
    checkpointed = [name for name, results in before.items()
                    if 1 <= max((r["epoch"] for r in results), default=0) < 6]
    assert len(checkpointed) == 1, "a later trial was mid-way, with a checkpoint"
    for name in checkpointed:
        continued = [r for r in after[name] if r.get("resumed_from_epoch", 0) > 0]
        assert continued, f"{name} restarted from epoch 0 instead of its checkpoint"
        assert continued[0]["resumed_from_epoch"] >= 1 and continued[0]["epoch"] == continued[0]["resumed_from_epoch"] + 1
    assert all(max(r["epoch"] for r in results) == 6 for results in after.values())
    rows = _rows(experiment)
    assert len(rows) == 3 and len({r["method.temperature"] for r in rows}) == 3


def test_a_lost_node_s_trial_is_rescheduled_and_finishes(tmp_path, data_cache, birdsong_root) -> None:
    space = _space(tmp_path, TEMPERATURE, trials=2, epochs=6, concurrent=2)
    cluster = LocalRayCluster(tmp_path / "cluster", extra_env={"SSL_SEARCH_CACHE": str(data_cache)})
    try:
        cluster.start_head(cpus=1, resources={"trial_driver": 2})
        cluster.add_node("node-b", cpus=1)
        storage = tmp_path / "runs"
        # Epochs long enough (10 steps) that the node dies while both trials still train.
        proc = _launch(["--space", str(space), "--address", cluster.address, "--storage", str(storage),
                        "--name", "lost-node", "--override", "train.max_steps_per_epoch=10"], env=cluster.client_env())
        experiment = storage / "lost-node"
        trials = lambda: _trial_dirs(experiment)  # noqa: E731
        _wait_for(lambda: len(trials()) == 2 and all(_max_epoch(t) >= 1 for t in trials()), 900, proc)
        before = {t.name: _results(t)[-1]["train_nodes"] for t in trials()}
        assert len(set(before.values())) == 2, "one trial per node before the loss"
        assert cluster.kill_node("node-b")
        out, _ = proc.communicate(timeout=1200)
        assert proc.returncode == 0, out[-4000:]
        rows = _rows(experiment)
        assert len(rows) == 2 and all(r["status"] == "completed" for r in rows), rows
        # Tune restarted the lost node's trial (it trains in the trial's own process) from its
        # newest checkpoint; it now ends on the other node.
        moved = [t for t in trials() if _results(t)[-1]["train_nodes"] != before[t.name]]
        assert len(moved) == 1, "the lost node's trial moved to the surviving node"
        assert _results(moved[0])[-1]["train_nodes"] in before.values()
        assert any(r.get("resumed_from_epoch", 0) >= 1 for r in _results(moved[0])), "from its checkpoint"
    finally:
        cluster.stop()
    assert not cluster.processes()


def test_two_searches_at_once_on_one_machine_both_finish(tmp_path) -> None:
    """Two local Rays on one machine: Ray Train's placement-group cleaner must find its own
    cluster (it used to auto-detect, fail on 'multiple Ray instances', leak the group and
    starve the next trial forever)."""
    space = _space(tmp_path, TEMPERATURE, trials=2, epochs=2, concurrent=1)
    storage = tmp_path / "runs"
    procs = [_launch(["--space", str(space), "--storage", str(storage), "--name", f"search{i}", "--cpus-per-trial", "1"])
             for i in range(2)]
    outs = [proc.communicate(timeout=900)[0] for proc in procs]
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out[-4000:]
    dashboards = {line for out in outs for line in out.splitlines() if line.startswith("Ray dashboard: ")}
    assert len(dashboards) == 2, dashboards  # each search has its own Ray, and says where
    for i in range(2):
        rows = _rows(storage / f"search{i}")
        assert len(rows) == 2 and all(r["status"] == "completed" for r in rows)
