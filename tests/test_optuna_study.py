"""The search's records beyond its trial folders, from real searches on loopback, driven by launch.py:
its Optuna study on disk (through an interruption and --resume, and rebuilt by --summarise),
optuna-dashboard serving it, a warm-started search, and MLflow's store of that search.

Two tiny searches serve every check (slow: Ray starts three times). The first is interrupted with
SIGINT once two trials have finished, then resumed; the second warm-starts from it with --mlflow.
What the study must hold is read independently from each trial's folder (``progress.csv``) and
from ``trials.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest
from optuna.trial import TrialState

from search_spaces import load_space
from tests.loopback import free_loopback_port
from tests.tiny import tiny_space_text
from trainables import optuna_store as store
from trainables.outcome import TrialOutcome

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
ASHA = {"name": "asha", "grace_period": 1, "reduction_factor": 2}
TEMPS = [0.1, 0.3]
WIDER = [0.1, 0.3, 1.0]


def _launch(args: list[str], cache: Path, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, SSL_SEARCH_CACHE=str(cache))
    return subprocess.Popen([sys.executable, "launch.py", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def _finished(experiment: Path) -> int:
    """Trials the search has told Optuna so far (read from its journal while it runs)."""
    try:
        study = store.load_search_study(experiment)
    except (FileNotFoundError, ValueError):
        return 0
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


@pytest.fixture(scope="module")
def resumed_search(tmp_path_factory, data_cache, birdsong_root) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("study")
    space = root / "temps.yaml"
    space.write_text(tiny_space_text({"method.temperature": {"choice": TEMPS}}, trials=4, epochs=2, concurrent=1,
                                     scheduler=ASHA))
    args = ["--space", str(space), "--storage", str(root / "runs"), "--name", "temps"]
    experiment = root / "runs" / "temps"
    proc = _launch(args, data_cache, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and _finished(experiment) < 2:
        time.sleep(1)
    if proc.poll() is not None:
        pytest.fail(f"the search ended (rc {proc.returncode}) before the interrupt:\n{proc.stdout.read()[-4000:]}")
    assert _finished(experiment) >= 2, "two trials should finish before the interrupt"
    os.kill(proc.pid, signal.SIGINT)  # by pid, as a user's Ctrl-C
    proc.communicate(timeout=900)  # Tune stops the running trial and saves its state: minutes on busy cores
    resumed = _launch(args + ["--resume"], data_cache)
    out, _ = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, out[-4000:]
    return experiment, out


def _tid(name: str) -> str:
    """The Tune trial id (8 hex digits) in a trial folder's name or a trial's ``str``."""
    match = re.search(r"_([0-9a-f]{8})(?:_|$)", name)
    assert match, name
    return match.group(1)


def _rows(experiment: Path) -> list[dict[str, str]]:
    with (experiment / "trials.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _history(trial_dir: Path) -> list[tuple[int, float]]:
    with (trial_dir / "progress.csv").open(newline="") as handle:
        return [(int(float(r["epoch"])), float(r["knn_top1"])) for r in csv.DictReader(handle)
                if r.get("knn_top1") not in (None, "")]


def _by_tune_id(study: optuna.Study) -> dict[str, optuna.trial.FrozenTrial]:
    ran = [t for t in study.trials if store.ATTR_TUNE_ID in t.user_attrs and store.ATTR_ABANDONED not in t.user_attrs]
    ids = [t.user_attrs[store.ATTR_TUNE_ID] for t in ran]
    assert len(ids) == len(set(ids)), f"a trial is in the study twice: {ids}"
    return {t.user_attrs[store.ATTR_TUNE_ID]: t for t in ran}


def test_the_study_holds_every_trial_with_its_state_values_and_interval(resumed_search) -> None:
    experiment, out = resumed_search
    rows = _rows(experiment)
    assert len(rows) == 4
    study = store.load_search_study(experiment)
    assert study.study_name == "temps" and study.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = _by_tune_id(study)
    assert len(trials) == 4, {k: t.state for k, t in trials.items()}  # through the interruption, no duplicate
    for row in rows:
        trial = trials[_tid(row["trial"])]  # run_trial_<tune id>_<n>_...
        assert trial.state == TrialOutcome.from_row(row).optuna_state, row
        assert trial.params == {"method.temperature": float(row["method.temperature"])}
        assert trial.intermediate_values == store.told_values(_history(experiment / row["trial"]), "max")
        if trial.state == TrialState.COMPLETE:
            assert trial.value == pytest.approx(float(row["best_knn_top1"]))
            assert trial.user_attrs["knn_top1_low"] == pytest.approx(float(row["best_knn_top1_low"]))
            assert trial.user_attrs["knn_top1_high"] == pytest.approx(float(row["best_knn_top1_high"]))
            assert trial.user_attrs[store.ATTR_BEST_EPOCH] == int(row["best_epoch"])
    others = [t for t in study.trials if t not in trials.values()]
    assert all(t.state == TrialState.FAIL and store.ATTR_ABANDONED in t.user_attrs for t in others)
    assert f"optuna-dashboard {experiment.relative_to(REPO) if experiment.is_relative_to(REPO) else experiment}" \
           f"/{store.STUDY_FILE}" in out


def test_optuna_dashboard_serves_the_study_on_loopback(resumed_search) -> None:
    import optuna_dashboard

    experiment, _ = resumed_search
    app = optuna_dashboard.wsgi(store.journal_storage(store.study_path(experiment)))

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:  # no request lines in the test output
            pass

    server = make_server("127.0.0.1", free_loopback_port(), app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        studies = json.load(urllib.request.urlopen(f"{base}/api/studies", timeout=30))["study_summaries"]
        assert [s["study_name"] for s in studies] == ["temps"]
        detail = json.load(urllib.request.urlopen(f"{base}/api/studies/{studies[0]['study_id']}", timeout=30))
        page = urllib.request.urlopen(f"{base}/dashboard", timeout=30).read().decode()
    finally:
        server.shutdown()
        thread.join(timeout=30)
    study = store.load_search_study(experiment)
    served = {t["number"]: t for t in detail["trials"]}
    assert sorted(served) == [t.number for t in study.trials]
    for trial in study.trials:
        shown = served[trial.number]
        assert shown["state"] == trial.state.name.capitalize()
        assert [(v["step"], v["value"]) for v in shown["intermediate_values"]] == \
               sorted(trial.intermediate_values.items())
        attrs = {a["key"]: a["value"] for a in shown["user_attrs"]}
        assert attrs.get(store.ATTR_TUNE_ID) == trial.user_attrs.get(store.ATTR_TUNE_ID)
    assert detail["has_intermediate_values"] and "<html" in page.lower()


def test_summarise_rebuilds_a_missing_study_from_the_trial_table(resumed_search, tmp_path, data_cache) -> None:
    experiment, _ = resumed_search
    copy = tmp_path / "old-search"
    shutil.copytree(experiment, copy)
    (copy / store.STUDY_FILE).unlink()  # as an experiment from before the study was kept
    proc = subprocess.run([sys.executable, "launch.py", "--summarise", str(copy)], cwd=REPO, text=True,
                          capture_output=True, timeout=600, env=dict(os.environ, SSL_SEARCH_CACHE=str(data_cache)))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "rebuilt from trials.csv" in proc.stdout
    original, rebuilt = store.load_search_study(experiment), store.load_search_study(copy)
    kept = {t.user_attrs[store.ATTR_TUNE_ID]: t for t in _by_tune_id(original).values()}
    assert len(rebuilt.trials) == len(kept)
    for trial in rebuilt.trials:
        same = kept[_tid(trial.user_attrs["name"])]
        assert (trial.state, trial.params, trial.intermediate_values) == \
               (same.state, same.params, same.intermediate_values)
        assert trial.value == same.value or trial.state != TrialState.COMPLETE
        for key in ("knn_top1_low", "knn_top1_high"):
            assert trial.user_attrs.get(key) == pytest.approx(same.user_attrs.get(key)) if key in same.user_attrs \
                else True
    # Once there, the study is kept as it is (the next --summarise finds it).
    before = (copy / store.STUDY_FILE).read_bytes()
    assert store.ensure_study(copy, load_space(copy / "space.yaml", validate=False)) is None
    assert (copy / store.STUDY_FILE).read_bytes() == before


@pytest.fixture(scope="module")
def warm_search(resumed_search, tmp_path_factory, data_cache) -> tuple[Path, Path, str]:
    earlier, _ = resumed_search
    root = tmp_path_factory.mktemp("warm")
    space = root / "wider.yaml"
    space.write_text(tiny_space_text({"method.temperature": {"choice": WIDER}}, trials=2, epochs=2, concurrent=1,
                                     scheduler=ASHA))
    proc = _launch(["--space", str(space), "--storage", str(root / "runs"), "--name", "warm", "--warm-start",
                    str(earlier), "--mlflow", str(root / "mlflow")], data_cache)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    return root / "runs" / "warm", root / "mlflow", out


def test_a_warm_started_search_runs_no_configuration_already_evaluated_and_holds_the_earlier_trials(
        resumed_search, warm_search) -> None:
    earlier, _ = resumed_search
    experiment, _, out = warm_search
    evaluated = {float(r["method.temperature"]) for r in _rows(earlier)}
    ran = {float(r["method.temperature"]) for r in _rows(experiment)}
    assert not ran & evaluated, (ran, evaluated)
    # TPE may keep proposing the earlier (better) temperatures; after MAX_DUPLICATES repeats in a
    # row the search stops proposing and says so, with fewer trials than its budget.
    assert len(_rows(experiment)) == 2 or "this search proposes no more" in out
    earlier_trials = _by_tune_id(store.load_search_study(earlier))
    study = store.load_search_study(experiment)
    imported = [t for t in study.trials if store.ATTR_IMPORTED in t.user_attrs]
    assert len(imported) == len(earlier_trials) and f"warm start: {len(imported)} trial(s) of {earlier}" in out
    assert all(t.user_attrs[store.ATTR_IMPORTED] == str(earlier) for t in imported)
    for trial in imported:  # as they were: state, score and learning curve
        same = earlier_trials[trial.user_attrs[store.ATTR_TUNE_ID]]
        assert (trial.state, trial.value, trial.intermediate_values) == (same.state, same.value,
                                                                         same.intermediate_values)
    assert len(_by_tune_id(study)) == len(imported) + len(_rows(experiment))  # and this search's own


def test_mlflow_holds_each_trial_its_metrics_and_the_search_s_artifacts(warm_search) -> None:
    from mlflow.tracking import MlflowClient

    experiment, folder, out = warm_search
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    found = client.get_experiment_by_name("warm")
    runs = client.search_runs([found.experiment_id])
    parents = [r for r in runs if r.data.tags.get("ssl_search.experiment") == "warm"]
    assert len(parents) == 1 and f"parent run {parents[0].info.run_id}" in out
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    rows = _rows(experiment)
    assert sorted(_tid(r.data.tags["trial_name"]) for r in children) == \
           sorted(_tid(r["trial"]) for r in rows)
    for child in children:
        row = next(r for r in rows if _tid(r["trial"]) == _tid(child.data.tags["trial_name"]))
        assert float(child.data.params["method.temperature"]) == float(row["method.temperature"])
        history = {m.step: m.value for m in client.get_metric_history(child.info.run_id, "knn_top1")}
        assert history == pytest.approx(dict(_history(experiment / row["trial"])))
        assert child.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"summary.md", "trials.csv", "best_backbone.pth", "optuna.journal", "figures"} <= artifacts
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert "figures/optimisation_history.png" in figures
    local = client.download_artifacts(parent.info.run_id, "summary.md", str(experiment.parent))
    assert Path(local).read_text() == (experiment / "summary.md").read_text()
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
