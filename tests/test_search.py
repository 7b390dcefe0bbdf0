"""A real search through Ray Tune, Optuna and Ray Train on loopback, driven by launch.py.

Slow (Ray start plus ~15 s per trial on 2 cores), so one search is shared by the checks.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import timm
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from ssl_core.config import config_from_dict
from ssl_core.checkpoint import read_checkpoint
from tests.loopback import free_loopback_port
from tests.tiny import tiny_space_text

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TEMPERATURE = {"method.temperature": {"loguniform": [0.05, 1.0]}}
ASHA = {"name": "asha", "grace_period": 1, "reduction_factor": 2}
TINY_SPACE = tiny_space_text(TEMPERATURE, trials=3, epochs=2, concurrent=2, scheduler=ASHA,
                             description="tiny SimCLR temperature search for tests")


def _launch(args: list[str], env_cache: Path, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, SSL_SEARCH_CACHE=str(env_cache))
    return subprocess.Popen([sys.executable, "launch.py", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


@pytest.fixture(scope="module")
def space_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("space") / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory, space_file, data_cache, birdsong_root) -> tuple[Path, str]:
    storage = tmp_path_factory.mktemp("storage")
    proc = _launch(["--space", str(space_file), "--storage", str(storage), "--name", "tiny"], data_cache)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    return storage / "tiny", out


def test_search_writes_trials_summary_and_best_config(finished_search) -> None:
    experiment, out = finished_search
    rows = list(csv.DictReader((experiment / "trials.csv").open()))
    assert len(rows) == 3
    temperatures = {float(r["method.temperature"]) for r in rows}
    assert len(temperatures) == 3 and all(0.05 <= t <= 1.0 for t in temperatures)
    assert all(r["status"] in ("completed", "pruned") for r in rows)
    assert "best trial:" in out and f"tensorboard --logdir {experiment}" in out
    best = config_from_dict(yaml.safe_load((experiment / "best_config.yaml").read_text())).validate()
    assert best.method.name == "simclr" and best.method.temperature in temperatures
    for png in ("optimisation_history", "test_embeddings_tsne", "test_longtail"):
        assert (experiment / "figures" / f"{png}.png").stat().st_size > 1000, png
    report = EventAccumulator(str(experiment / "best_trial"))
    report.Reload()
    assert "best_trial/view_pairs" in report.Tags()["images"]
    assert "best_trial/test_longtail" in report.Tags()["images"]
    assert (experiment / "best_trial" / "projector_config.pbtxt").is_file()
    # Each trial trained with its own seed (trial n: the base seed + n - 1).
    from ssl_core.run import read_run_config
    from trainables.trial_folder import trial_number
    for row in rows:
        seed = read_run_config(experiment / row["trial"] / "ssl" / "checkpoints" / "best").train.seed
        assert seed == trial_number(row["trial"]) - 1, row["trial"]
    test_metrics = json.loads((experiment / "best_test_metrics.json").read_text())
    for key in ("knn_top1", "linear_top1", "head_top1", "medium_top1", "tail_top1", "ari", "nmi"):
        assert key in test_metrics and math.isfinite(test_metrics[key]), key


def test_single_worker_trials_train_in_their_tune_trial_with_their_own_cpus(finished_search) -> None:
    experiment, _ = finished_search
    trials = sorted(experiment.glob("run_trial_*"))
    assert len(trials) == 3
    # No Ray Train run: it would have written its own folder beside the trials.
    assert not (experiment / "train_runs").exists()
    for trial in trials:
        results = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        # 2 trials at once on this 2-CPU machine, 1 CPU each: Ray gave each process 1 torch thread.
        assert {r["torch_threads"] for r in results} == {1}, trial.name
        # Tune holds the trial's checkpoints (its retries resume from them); how many it keeps
        # is checked on a 10-epoch trial in tests/test_faults.py.
        assert list(trial.glob("checkpoint_*")), trial.name


def test_exported_backbone_loads_in_timm_and_embeds_like_the_checkpoint(finished_search) -> None:
    experiment, _ = finished_search
    info = yaml.safe_load((experiment / "best_backbone.yaml").read_text())
    # Audio runs pool by average and max ("auto"); the file says so, and loading it that way embeds as the run did.
    assert info["global_pool"] == "avgmax" and "global_pool='avgmax'" in info["load_with"]
    model = timm.create_model(info["timm_model"], pretrained=False, num_classes=0, in_chans=info["in_chans"],
                              global_pool=info["global_pool"], checkpoint_path=str(experiment / "best_backbone.pth"))
    best_name = next(line for line in (experiment / "summary.md").read_text().splitlines()
                     if line.startswith("best trial:")).split(": ", 1)[1]
    reference = timm.create_model(info["timm_model"], pretrained=False, num_classes=0, in_chans=info["in_chans"],
                                  global_pool="avgmax")
    # The reference reads the checkpoint's raw weights, not through the run loader the export uses.
    model_state = read_checkpoint(experiment / best_name / "ssl" / "checkpoints" / "best")["model"]
    reference.load_state_dict({k[len("backbone."):]: v for k, v in model_state.items() if k.startswith("backbone.")})
    model.eval(), reference.eval()
    x = torch.randn(3, 1, 64, 101, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_tensorboard_holds_scalars_and_hparams(finished_search) -> None:
    experiment, _ = finished_search
    trial_dirs = [p for p in experiment.iterdir() if p.name.startswith("run_trial_")]
    assert len(trial_dirs) == 3
    for trial in trial_dirs:
        tune_events = EventAccumulator(str(trial))
        tune_events.Reload()
        assert "ray/tune/knn_top1" in tune_events.Tags()["scalars"]
        content = tune_events.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        assert "method.temperature" in start.session_start_info.hparams
        ours = EventAccumulator(str(trial / "ssl" / "tensorboard"))
        ours.Reload()
        assert {"eval/knn_top1", "eval/emb_std", "train/loss"} <= set(ours.Tags()["scalars"])
        assert [e.step for e in ours.Scalars("eval/knn_top1")][0] == 0  # the untrained floor


def test_interrupted_search_resumes_without_rerunning_finished_trials(tmp_path, space_file, data_cache,
                                                                       birdsong_root) -> None:
    storage = tmp_path / "storage"
    args = ["--space", str(space_file), "--storage", str(storage), "--name", "resumable", "--trials", "4",
            "--concurrent", "1"]
    proc = _launch(args, data_cache, start_new_session=True)
    experiment = storage / "resumable"
    deadline = time.time() + 600
    finished: list[Path] = []
    while time.time() < deadline and proc.poll() is None:
        finished = [p for p in experiment.glob("run_trial_*") if _epochs_done(p) >= 2]
        if len(finished) >= 2:
            break
        time.sleep(1)
    assert len(finished) >= 2, "two trials should finish before the interrupt"
    os.kill(proc.pid, signal.SIGINT)  # by pid, as a user's Ctrl-C
    proc.communicate(timeout=300)
    before = {p.name: (p / "result.json").read_text() for p in finished}

    resumed = _launch(args + ["--resume"], data_cache)
    out, _ = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, out[-4000:]
    trials = sorted(p.name for p in experiment.glob("run_trial_*"))
    assert len(trials) == 4, trials
    for name, text in before.items():
        assert (experiment / name / "result.json").read_text() == text, f"{name} was re-run"
    rows = list(csv.DictReader((experiment / "trials.csv").open()))
    assert len(rows) == 4


def _epochs_done(trial_dir: Path) -> int:
    result = trial_dir / "result.json"
    if not result.is_file():
        return 0
    lines = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
    return max((int(line.get("epoch", 0)) for line in lines), default=0)


def test_bad_space_is_refused_before_ray_starts(tmp_path, data_cache) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_space_text({"method.temperature": {"uniform": [-0.5, 1.0]}}, trials=3, epochs=2,
                                   concurrent=2, scheduler=ASHA))
    started = time.time()
    proc = _launch(["--space", str(bad), "--storage", str(tmp_path / "s")], data_cache)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "method.temperature" in out and "must be a finite number > 0" in out
    assert "Started a local Ray instance" not in out and not (tmp_path / "s").exists()
    assert time.time() - started < 60


def test_tensorboard_serves_runs_scalars_and_hparams_on_loopback(finished_search) -> None:
    import urllib.request

    experiment, _ = finished_search
    port = free_loopback_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(experiment),
                               "--host", "127.0.0.1", "--port", str(port), "--load_fast=false"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def get(path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    try:
        deadline, runs = time.time() + 120, []
        while time.time() < deadline:
            try:
                runs = get("/data/runs")
                if sum(r.startswith("run_trial_") for r in runs) >= 6:  # Tune's and ours, per trial
                    break
            except OSError:
                pass
            time.sleep(1)
        assert sum(r.startswith("run_trial_") and r.endswith("tensorboard") for r in runs) == 3, runs
        tags = get("/data/plugin/scalars/tags")
        ours = [run for run in tags if run.endswith("ssl/tensorboard")]
        assert ours and all("eval/knn_top1" in tags[run] for run in ours)
        hparams = get("/data/plugin/hparams/experiment", {"experimentName": ""})
        names = {info["name"] for info in hparams["hparamInfos"]}
        assert "method.temperature" in names
        groups = get("/data/plugin/hparams/session_groups",
                     {"experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS",
                                                                "STATUS_FAILURE", "STATUS_RUNNING"],
                      "colParams": [{"hparam": "method.temperature"}], "startIndex": 0, "sliceSize": 100})
        assert groups["totalSize"] == 3
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


RESULT_FILES = ("summary.md", "trials.csv", "best_config.yaml", "best_test_metrics.json", "best_backbone.pth",
                "best_backbone.yaml")


def test_summarise_writes_every_result_file_again_from_the_experiment_folder_alone(finished_search, tmp_path,
                                                                                   data_cache) -> None:
    """Delete the results of a finished search; ``--summarise DIR`` (no --space: the experiment's
    space.yaml) brings them back, equal where deterministic, without starting Ray."""
    import shutil

    experiment, _ = finished_search
    before = {name: (experiment / name).read_bytes() for name in RESULT_FILES}
    figures = sorted(p.name for p in (experiment / "figures").glob("*.png"))
    backbone = torch.load(experiment / "best_backbone.pth", weights_only=True)
    for name in RESULT_FILES:
        (experiment / name).unlink()
    shutil.rmtree(experiment / "figures")
    shutil.rmtree(experiment / "best_trial")

    ray_tmp = tmp_path / "ray_tmp"
    env = dict(os.environ, SSL_SEARCH_CACHE=str(data_cache), RAY_TMPDIR=str(ray_tmp))
    done = subprocess.run([sys.executable, "launch.py", "--summarise", str(experiment)], cwd=REPO, env=env,
                          text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert not list(ray_tmp.glob("**/session_*")), "--summarise started a Ray cluster"
    assert "Started a local Ray instance" not in done.stdout + done.stderr

    for name in ("trials.csv", "best_config.yaml", "summary.md", "best_backbone.yaml"):
        assert (experiment / name).read_bytes() == before[name], name
    assert "best trial:" in done.stdout and (experiment / "summary.md").read_text().strip() == done.stdout.strip()
    old, new = json.loads(before["best_test_metrics.json"]), json.loads((experiment / "best_test_metrics.json")
                                                                         .read_text())
    assert old.keys() == new.keys()
    for key in old:
        assert new[key] == pytest.approx(old[key], rel=1e-6, abs=1e-9, nan_ok=True), key
    for key, tensor in torch.load(experiment / "best_backbone.pth", weights_only=True).items():
        torch.testing.assert_close(tensor, backbone[key], rtol=0, atol=0)
    assert sorted(p.name for p in (experiment / "figures").glob("*.png")) == figures
    report = EventAccumulator(str(experiment / "best_trial"))
    report.Reload()
    assert {"best_trial/view_pairs", "best_trial/test_longtail"} <= set(report.Tags()["images"])
    assert len(list((experiment / "best_trial").glob("events.out.tfevents.*"))) == 1
    ours = tuple(f".{name}." for name in (*RESULT_FILES, "best_trial", "export"))
    assert not [p.name for p in experiment.iterdir() if p.name.startswith(ours)], "temporary files left behind"


def test_summarise_refuses_a_folder_that_is_no_experiment(tmp_path) -> None:
    done = subprocess.run([sys.executable, "launch.py", "--summarise", str(tmp_path)], cwd=REPO, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 2
    assert "is not a search's experiment folder (no experiment_state-*.json" in done.stderr
    assert "pass --summarise <storage>/<experiment name>" in done.stderr


def _tune_statuses(experiment: Path) -> dict[str, str]:
    """trial id -> status in Tune's latest experiment checkpoint (what survives a killed driver)."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    if not states:
        return {}
    try:
        entries = json.loads(states[-1].read_text())["trial_data"]
    except (json.JSONDecodeError, KeyError):
        return {}  # caught mid-write
    return {meta["trial_id"]: meta["status"] for meta in (json.loads(entry[0]) for entry in entries)}


def test_summarise_reports_a_search_whose_driver_was_killed(tmp_path, monkeypatch, data_cache,
                                                           birdsong_root) -> None:
    """SIGKILL the driver while a trial runs (nothing of launch.py's own runs after that);
    --summarise still writes every file, the running trial marked interrupted."""
    import psutil

    space = tmp_path / "cut.yaml"
    space.write_text(tiny_space_text(TEMPERATURE, trials=3, epochs=2, concurrent=2))  # no ASHA
    storage = tmp_path / "storage"
    # Tune checkpoints its experiment state every >= 10 s by default; every second here, so that
    # the second trial is caught recorded as RUNNING, with results, within its ~20 s.
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "1")
    proc = _launch(["--space", str(space), "--storage", str(storage), "--name", "cut", "--concurrent", "1",
                    "--trials", "2", "--epochs", "6"], data_cache, start_new_session=True)
    experiment = storage / "cut"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        statuses = _tune_statuses(experiment)
        running = [p for p in experiment.glob("run_trial_*") if statuses.get(p.name.split("_")[2]) == "RUNNING"]
        if "TERMINATED" in statuses.values() and running and _epochs_done(running[0]) >= 1:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"no trial finished with another running: {proc.poll()} {_tune_statuses(experiment)}")
    leftovers = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    for child in leftovers:  # the local Ray the driver started, by pid
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(leftovers, timeout=30)
    assert not (experiment / "trials.csv").exists()

    ray_tmp = tmp_path / "ray_tmp"
    env = dict(os.environ, SSL_SEARCH_CACHE=str(data_cache), RAY_TMPDIR=str(ray_tmp))
    done = subprocess.run([sys.executable, "launch.py", "--summarise", str(experiment)], cwd=REPO, env=env,
                          text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert not list(ray_tmp.glob("**/session_*"))
    rows = list(csv.DictReader((experiment / "trials.csv").open()))
    statuses = [r["status"] for r in rows]
    assert "completed" in statuses and any(s.startswith("interrupted at epoch ") for s in statuses), statuses
    assert "the search was interrupted before" in done.stdout and "--resume --name cut" in done.stdout
    for name in RESULT_FILES:
        assert (experiment / name).stat().st_size > 0, name
