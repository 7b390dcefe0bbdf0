"""--warm-start without Ray: which earlier trials fit a new space, what the searcher proposes after
them, and the refusals (before Ray starts) of warm starts and of --mlflow without MLflow.

The earlier study is written here with Optuna's own API, as a search leaves it
(``<experiment>/optuna.journal`` beside ``space.yaml``); the real search that warm-starts from a
real search is in tests/test_optuna_study.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState
from ray import tune

from search_spaces import load_space
from tests.test_bad_input import _launch
from tests.tiny import tiny_space_text
from trainables import optuna_store as store
from trainables.optuna_search import MAX_DUPLICATES, PruningAwareOptunaSearch
from trainables.warm_start import import_trials, plan_warm_start

REPO = Path(__file__).resolve().parents[1]
TEMPS = (0.1, 0.3)


def _earlier(root: Path, params: dict, trials: list[tuple[dict, TrialState, float | None, dict]],
             objective: dict | None = None) -> Path:
    """An experiment folder with ``space.yaml`` and a study holding ``trials`` (params, state, value, steps)."""
    experiment = root / "earlier"
    experiment.mkdir(parents=True)
    (experiment / "space.yaml").write_text(tiny_space_text(params, trials=len(trials), epochs=2, concurrent=1,
                                                          objective=objective))
    study = optuna.create_study(study_name="earlier", storage=store.journal_storage(store.study_path(experiment)),
                                direction="maximize")
    for values, state, value, steps in trials:
        dists = {"method.temperature": CategoricalDistribution(TEMPS)} if "method.temperature" in values else {}
        if "optim.lr" in values:
            dists["optim.lr"] = FloatDistribution(1e-4, 1e-2, log=True)
        study.add_trial(optuna.trial.create_trial(params=values, distributions=dists, state=state, value=value,
                                                  intermediate_values=steps))
    return experiment


def _space(tmp: Path, params: dict, name: str = "new.yaml", searched: tuple[str, ...] = (), **kwargs):
    path = tmp / name
    path.write_text(tiny_space_text(params, trials=3, epochs=2, concurrent=1, searched=searched, **kwargs))
    return load_space(path)


def test_trials_that_fit_the_new_space_are_imported_with_their_states(tmp_path) -> None:
    earlier = _earlier(tmp_path, {"method.temperature": {"choice": list(TEMPS)}}, [
        ({"method.temperature": 0.1}, TrialState.COMPLETE, 40.0, {0: 10.0, 1: 40.0, 2: 40.0}),
        ({"method.temperature": 0.3}, TrialState.PRUNED, None, {0: 12.0, 1: 20.0}),
        ({}, TrialState.FAIL, None, {}),  # failed before its params were recorded
    ])
    # The new space widens the temperature and searches the learning rate the earlier one fixed
    # (0.002 in the tiny base): the earlier trials ran at lr 0.002, inside the new range.
    new = _space(tmp_path, {"method.temperature": {"choice": [0.1, 0.3, 1.0]},
                            "optim.lr": {"loguniform": [1e-3, 1e-2]}}, searched=("optim.lr",))
    plan = plan_warm_start(earlier, load_space(earlier / "space.yaml"), [], new, [])
    assert [t.state for t in plan.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert [t.params for t in plan.trials] == [{"method.temperature": 0.1, "optim.lr": 0.002},
                                               {"method.temperature": 0.3, "optim.lr": 0.002}]
    assert plan.trials[0].value == 40.0 and plan.trials[1].intermediate_values == {0: 12.0, 1: 20.0}
    assert plan.skipped == [(2, "its parameters were not recorded (it failed before starting)")]
    # An lr range that excludes 0.002 leaves nothing: each trial is skipped with the reason.
    narrow = _space(tmp_path, {"method.temperature": {"choice": [0.1, 0.3]},
                               "optim.lr": {"loguniform": [5e-3, 1e-2]}}, name="narrow.yaml", searched=("optim.lr",))
    plan = plan_warm_start(earlier, load_space(earlier / "space.yaml"), [], narrow, [])
    assert not plan.trials and "optim.lr=0.002 (the earlier search's base) is outside this space" in plan.skipped[0][1]
    # Imported once into the new study, marked with where they came from.
    new_dir = tmp_path / "new"
    plan = plan_warm_start(earlier, load_space(earlier / "space.yaml"), [], new, [])
    import_trials(new_dir, new, plan)
    import_trials(new_dir, new, plan)  # a second call (a resumed search) adds nothing
    study = store.load_search_study(new_dir)
    assert len(study.trials) == 2 and all(t.user_attrs[store.ATTR_IMPORTED] == str(earlier) for t in study.trials)


def _warm_searcher(tmp: Path, repeat: bool, seed: int = 0,
                   choices: tuple[float, ...] = (0.1, 0.3, 1.0)) -> PruningAwareOptunaSearch:
    earlier = _earlier(tmp, {"method.temperature": {"choice": list(TEMPS)}}, [
        ({"method.temperature": 0.1}, TrialState.COMPLETE, 40.0, {1: 40.0}),
        ({"method.temperature": 0.3}, TrialState.COMPLETE, 30.0, {1: 30.0}),
    ])
    new = _space(tmp, {"method.temperature": {"choice": list(choices)}})
    experiment = tmp / "new"
    import_trials(experiment, new, plan_warm_start(earlier, load_space(earlier / "space.yaml"), [], new, []))
    searcher = PruningAwareOptunaSearch(metric="knn_top1", mode="max", full_epochs=2, study_dir=experiment,
                                        sampler=optuna.samplers.RandomSampler(seed=seed), repeat_imported=repeat)
    searcher.set_search_properties("knn_top1", "max", {"method.temperature": tune.choice(list(choices))})
    return searcher


def test_a_warm_started_searcher_proposes_no_configuration_the_earlier_search_evaluated(tmp_path) -> None:
    searcher = _warm_searcher(tmp_path, repeat=False)
    proposed = [searcher.suggest(f"t{i}")["method.temperature"] for i in range(4)]
    assert proposed == [1.0] * 4  # the only value the earlier search did not try
    study = store.load_search_study(tmp_path / "new")
    duplicates = [t for t in study.trials if store.ATTR_DUPLICATE in t.user_attrs]
    assert duplicates and all(t.state == TrialState.FAIL for t in duplicates)
    assert {t.params["method.temperature"] for t in duplicates} <= set(TEMPS)
    # Told to (--warm-start-repeat), it may propose them again.
    again = _warm_searcher(tmp_path / "repeat", repeat=True)
    assert {again.suggest(f"t{i}")["method.temperature"] for i in range(12)} & set(TEMPS)


def test_a_space_the_earlier_search_exhausted_ends_the_proposals(tmp_path) -> None:
    searcher = _warm_searcher(tmp_path, repeat=False, choices=TEMPS)  # nothing new left to propose
    assert searcher.suggest("t0") == "FINISHED"
    assert len(store.load_search_study(tmp_path / "new").trials) == 2 + MAX_DUPLICATES


@pytest.mark.parametrize("objective, params, flags, expected", [
    ({"metric": "linear_top1", "mode": "max"}, {"method.temperature": {"choice": list(TEMPS)}}, [],
     ("its objective is linear_top1 (max) and this search's is knn_top1 (max)", "drop --warm-start")),
    (None, {"optim.weight_decay": {"choice": [0.0, 1e-4]}}, [],
     ("the spaces share no parameter", "it searched method.temperature", "drop --warm-start")),
    (None, {"method.temperature": {"choice": [1.0, 2.0]}}, [],
     ("none of its 2 finished trial(s) fits this space", "method.temperature=0.1 is outside")),
    (None, {"method.temperature": {"choice": list(TEMPS)}}, ["--resume"],
     ("a resumed search keeps the study it began with",)),
], ids=["another objective", "no shared parameter", "nothing fits", "with --resume"])
def test_warm_starts_that_cannot_work_are_refused_before_ray(tmp_path, monkeypatch, capsys, objective, params,
                                                             flags, expected) -> None:
    earlier = _earlier(tmp_path / "old", {"method.temperature": {"choice": list(TEMPS)}}, [
        ({"method.temperature": 0.1}, TrialState.COMPLETE, 40.0, {1: 40.0}),
        ({"method.temperature": 0.3}, TrialState.PRUNED, None, {1: 20.0}),
    ], objective=objective)
    space = tmp_path / "new.yaml"
    space.write_text(tiny_space_text(params, trials=2, epochs=2, concurrent=1))
    if flags:  # --resume needs an experiment launch.py started
        (tmp_path / "storage" / "bad").mkdir(parents=True)
        (tmp_path / "storage" / "bad" / "space.yaml").write_text(space.read_text())
    rc, out, err, _ = _launch(["--space", str(space), "--warm-start", str(earlier), *flags], tmp_path, monkeypatch,
                              capsys)
    assert rc == 2 and err.startswith("error: --warm-start"), (out, err)
    for text in expected:
        assert text in err, err


def test_warm_start_repeat_alone_and_a_folder_that_is_no_search_are_refused(tmp_path, monkeypatch, capsys) -> None:
    space = tmp_path / "new.yaml"
    space.write_text(tiny_space_text({"method.temperature": {"choice": list(TEMPS)}}, trials=2, epochs=2, concurrent=1))
    rc, _, err, _ = _launch(["--space", str(space), "--warm-start-repeat"], tmp_path, monkeypatch, capsys)
    assert rc == 2 and "--warm-start-repeat only applies with --warm-start" in err
    (tmp_path / "notes").mkdir()
    rc, _, err, _ = _launch(["--space", str(space), "--warm-start", str(tmp_path / "notes")], tmp_path, monkeypatch,
                            capsys)
    assert rc == 2 and "is not a search's experiment folder (it holds no space.yaml)" in err


def test_mlflow_flag_without_mlflow_is_refused_with_the_install_command(tmp_path) -> None:
    space = tmp_path / "new.yaml"
    space.write_text(tiny_space_text({"method.temperature": {"choice": list(TEMPS)}}, trials=2, epochs=2, concurrent=1))
    # A child where `import mlflow` fails as it does where the extra is not installed.
    code = ("import sys; sys.modules['mlflow'] = None; import launch; "
            f"sys.exit(launch.main(['--space', {str(space)!r}, '--storage', {str(tmp_path / 'runs')!r}, '--mlflow']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, text=True, capture_output=True, timeout=300,
                          env=dict(os.environ, RAY_TMPDIR=str(tmp_path / "ray")))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--mlflow needs MLflow" in proc.stderr and "pip install -e '.[mlflow]'" in proc.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "ray").exists()  # before anything was made
