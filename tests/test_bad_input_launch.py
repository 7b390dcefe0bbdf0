"""launch.py's own flags (issue 18): refused before Ray starts, naming the flag and the fix,
with nothing written; and the notes a plan gets instead of an error.

Refusals run ``launch.main`` without ``--dry-run`` through ``tests.test_bad_input._launch``
(no Ray session, no raylet, ``--storage`` untouched). Each case also checks that the folder
the test runs in is left exactly as it was, so a refusal that wrote anywhere would fail.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

import pytest

import launch
import launch_checks
from ssl_core import train
from tests.test_bad_input import _launch, _space


def _files(root: Path) -> set[str]:
    """Every path under ``root``, relative: what a refused launch must leave as it found it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _not_tool_folder(tmp: Path) -> list[str]:
    (tmp / "storage" / "mine").mkdir(parents=True)
    (tmp / "storage" / "mine" / "thesis.tex").write_text("someone's work, not an experiment")
    return ["--space", _space(tmp), "--storage", str(tmp / "storage"), "--name", "mine", "--resume"]


def _corrupt_launch_json(tmp: Path) -> list[str]:
    experiment = tmp / "storage" / "old"
    experiment.mkdir(parents=True)
    (experiment / "space.yaml").write_text(Path(_space(tmp)).read_text())
    (experiment / "launch.json").write_text('{"space": "lr_sp')  # cut short by a crash
    return ["--storage", str(tmp / "storage"), "--name", "old", "--resume"]


Case = tuple[str, Callable[[Path], list[str]], tuple[str, ...]]
# (id, argv builder (gets a fresh tmp folder), substrings the error must hold: the problem, then the fix)
CASES: list[Case] = [
    ("negative Optuna seed", lambda t: ["--space", _space(t), "--seed", "-1"],
     ("--seed -1 is invalid", "in [0, 4294967295]", "use 0 or another non-negative seed")),
    ("seed past 32 bits", lambda t: ["--space", _space(t), "--seed", str(2**32)],
     ("--seed 4294967296 is invalid", "use 0 or another non-negative seed")),
    # Row 9: a thousandth of a CPU per trial would plan 1000 trials at once on 2 CPUs.
    ("a thousandth of a CPU per trial", lambda t: ["--space", _space(t), "--cpus-per-trial", "0.001",
                                                   "--concurrent", "1000", "--trials", "1000"],
     ("--cpus-per-trial 0.001 is invalid", f"at least {launch_checks.MIN_CPUS_PER_TRIAL:g} of a core",
      f"pass --cpus-per-trial {launch_checks.MIN_CPUS_PER_TRIAL:g} or more")),
    ("no trial at once", lambda t: ["--space", _space(t), "--concurrent", "0"],
     ("--concurrent 0 is invalid", "pass --concurrent 1 or more")),
    # Row 10: an experiment name is one folder under --storage.
    ("name '..'", lambda t: ["--space", _space(t), "--name", ".."],
     ("--name '..' is not an experiment name", "the folder above the storage root", "pass a name such as")),
    ("name '..' with --resume", lambda t: ["--space", _space(t), "--name", "..", "--resume"],
     ("--name '..' is not an experiment name", "pass a name such as")),
    ("name '.'", lambda t: ["--space", _space(t), "--name", "."],
     ("--name '.' is not an experiment name", "the storage root itself", "pass a name such as")),
    ("name with a slash", lambda t: ["--space", _space(t), "--name", "a/b"],
     ("--name 'a/b' is invalid", "one folder under --storage", "no '/'", "pass a name such as")),
    ("empty name", lambda t: ["--space", _space(t), "--name", ""],
     ("--name '' is invalid", "pass a name such as")),
    ("resume of a folder launch.py did not write", _not_tool_folder,
     ("cannot resume", "holds no launch.json or space.yaml", "drop --resume and pass a new --name")),
    ("resume with a corrupt launch.json", _corrupt_launch_json,
     ("launch.json is not launch.py's record (a JSON object): Unterminated string", "restore it, or delete it")),
    ("empty storage", lambda t: ["--space", _space(t), "--storage", ""],
     ("--storage '' is empty", "the current folder", "pass --storage a folder")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_flag_is_refused_before_ray_with_the_fix(case: Case, tmp_path, monkeypatch, capsys) -> None:
    _, build, expected = case
    monkeypatch.chdir(tmp_path)  # --storage '' would mean this folder
    argv = build(tmp_path)
    before = _files(tmp_path)
    rc, out, err, storage = _launch(argv, tmp_path, monkeypatch, capsys)
    assert rc == 2, (out, err)
    assert err.startswith("error: ") and "Traceback" not in err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    assert _files(tmp_path) == before, "a refused launch wrote something"


def test_empty_storage_from_the_environment_names_the_variable(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSL_SEARCH_STORAGE", "")
    assert launch.main(["--space", _space(tmp_path), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "$SSL_SEARCH_STORAGE is set but empty" in err and "pass --storage a folder" in err
    assert _files(tmp_path) == {"lr_space.yaml"}


def _stored_experiment(tmp: Path) -> Path:
    """An experiment folder as far as --summarise checks it before reading trials."""
    experiment = tmp / "runs" / "done"
    experiment.mkdir(parents=True)
    (experiment / "space.yaml").write_text(Path(_space(tmp)).read_text())
    (experiment / "launch.json").write_text(json.dumps({"space": "lr_space"}))
    return experiment


@pytest.mark.parametrize("file, text, expected", [
    ("launch.json", "{not json", ("launch.json is not launch.py's record (a JSON object): Expecting property name",
                                  "restore it, or delete it")),
    ("launch.json", "[1, 2]", ("launch.json is not launch.py's record", "'list' object has no attribute 'get'")),
    ("experiment_state-2025-01-01_00-00-00.json", '{"trial_data": [[',
     ("experiment_state-2025-01-01_00-00-00.json is not a readable Ray Tune experiment record (JSONDecodeError",
      "restore it from a backup, or rerun the search under a new --name")),
    ("experiment_state-2025-01-01_00-00-00.json", "{}",
     ("experiment_state-2025-01-01_00-00-00.json is not a readable Ray Tune experiment record (KeyError: "
      "'trial_data')", "restore it from a backup")),
])
def test_summarise_names_a_corrupt_record_and_the_fix(tmp_path, capsys, file: str, text: str,
                                                      expected: tuple[str, ...]) -> None:
    experiment = _stored_experiment(tmp_path)
    (experiment / "experiment_state-2025-01-01_00-00-00.json").write_text('{"trial_data": []}')
    (experiment / file).write_text(text)
    before = _files(tmp_path)
    assert launch.main(["--summarise", str(experiment)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for part in expected:
        assert part in err, f"{part!r} not in {err!r}"
    assert str(experiment / file) in err
    assert _files(tmp_path) == before
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


def test_a_corrupt_newest_state_points_at_the_older_one(tmp_path, capsys) -> None:
    experiment = _stored_experiment(tmp_path)
    (experiment / "experiment_state-2025-01-01_00-00-00.json").write_text('{"trial_data": []}')
    (experiment / "experiment_state-2025-01-02_00-00-00.json").write_text("")
    assert launch.main(["--summarise", str(experiment)]) == 2
    err = capsys.readouterr().err
    assert "experiment_state-2025-01-02_00-00-00.json is not a readable" in err
    assert "delete it: Tune then reads the older experiment_state-2025-01-01_00-00-00.json" in err


def test_config_folder_is_called_a_folder(tmp_path, capsys) -> None:
    assert train.main(["--config", str(tmp_path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert f"config file {tmp_path} is a folder, not a file; pass --config the YAML file in it" in err
    assert "does not exist" not in err
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------- notes, not errors


def test_trials_at_once_are_bounded_by_the_machine_and_a_dry_run_writes_nothing(tmp_path, monkeypatch, capsys,
                                                                             data_cache) -> None:
    """Row 9 with a CPU share that is allowed: the plan is capped by this machine, a budget of
    10**9 trials gets its time, --data is shown as --data, and no storage folder appears."""
    most, _ = launch_checks.machine_concurrency(float(os.cpu_count() or 1),
                                                launch_checks.machine_memory_bytes())
    argv = ["--space", _space(tmp_path), "--cpus-per-trial", "0.25", "--concurrent", "1000", "--trials", str(10**9),
            "--data", "birdsong", "--override", "data.batch_size=16", "--dry-run"]
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    rc, out, err, storage = _launch(argv, tmp_path, monkeypatch, capsys)
    assert rc == 0, err
    assert f"note: 1000 trials at once is more than this machine can run (" in out
    assert f"planning at most {most} at once" in out and f"pass --concurrent {most} or less" in out
    at_once = int(out.split(" trial(s) at once")[0].rsplit("; ", 1)[1])
    assert 1 <= at_once <= min(most, (os.cpu_count() or 1) / 0.25)
    assert "note: the budget asks for 1,000,000,000 trials x up to 2 epochs" in out
    assert "years even at 1 s per epoch" in out and "lower --trials" in out
    shown = {line.split()[0]: line for line in out.splitlines() if line.startswith("  data.")}
    assert shown["data.dataset"].endswith("= 'birdsong' (--data)"), shown
    assert shown["data.batch_size"].endswith("= 16 (--override)"), shown
    assert not storage.exists(), "a dry run created its storage"
    assert _files(tmp_path) - before <= {"ray_tmp"}


def test_a_dry_run_still_refuses_storage_it_could_not_write(tmp_path, monkeypatch, capsys, data_cache) -> None:
    rc, out, err, _ = _launch(["--space", _space(tmp_path), "--storage", "/proc/sys/ssl-search-test", "--dry-run"],
                              tmp_path, monkeypatch, capsys)
    assert rc == 2 and "storage path /proc/sys/ssl-search-test is not writable" in err


@pytest.mark.parametrize("trials, concurrent, epochs, grace, expected", [
    (8, 2, 6, 2, None),
    (10**9, 2, 6, 6, "over 95 years even at 1 s per epoch"),
    (100_000, 1, 6, 2, "over 2 days even at 1 s per epoch"),
])
def test_budget_note_is_a_floor_on_time(trials: int, concurrent: int, epochs: int, grace: int,
                                        expected: str | None) -> None:
    note = launch_checks.budget_note(trials, epochs, concurrent, grace)
    assert note is None if expected is None else expected in note


def test_machine_concurrency_takes_the_tighter_bound() -> None:
    assert launch_checks.machine_concurrency(2.0, 64 * 10**9) == (8, "2 CPUs / 0.25 per trial")
    assert launch_checks.machine_concurrency(64.0, 4 * 10**9) == (4, "4.0 GB of memory / about 1 GB per trial")
    assert launch_checks.machine_concurrency(1.0, None)[0] == 4
