"""The confirmation stage and the verdict, through launch.py and a real Ray on loopback.

One tiny search (3 trials) with ``confirm: {top: 2, seeds: 2, epochs: 2}`` is interrupted while
the confirmation stage trains and resumed; the checks read what it wrote. The two search
candidates' own trials are their first seeds, so the stage trains 1 + 1 + 2 + 2 runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataclasses import replace

from search_spaces import load_space
from ssl_core.run import best_checkpoint, read_run_config
from tests.tiny import tiny_space_text
from trainables.confirm import CANDIDATES_FILE, CONFIRM_DIR, SEED_OFFSET, pick_candidates
from trainables.results import load_experiment, trial_rows
from trainables.trial_folder import trial_number, trial_run_dir

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TOP, SEEDS = 2, 2
SPACE = tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=3, epochs=2, concurrent=1,
                        confirm={"top": TOP, "seeds": SEEDS, "epochs": 2},
                        base={"eval": {"linear_probe": "never", "clustering": False}},
                        description="tiny search with a confirmation stage")


def _launch(args: list[str], cache: Path, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, SSL_SEARCH_CACHE=str(cache))
    return subprocess.Popen([sys.executable, "launch.py", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def _finished_confirm_runs(experiment: Path) -> list[Path]:
    done = []
    for trial in (experiment / CONFIRM_DIR).glob("run_trial_*"):
        result = trial / "result.json"
        if result.is_file() and any(json.loads(line).get("epoch") == 2
                                    for line in result.read_text().splitlines() if line.strip()):
            done.append(trial)
    return done


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory, data_cache, birdsong_root) -> tuple[Path, str, dict[str, str]]:
    """The search, interrupted (Ctrl-C) once two confirmation runs have finished, then resumed."""
    root = tmp_path_factory.mktemp("confirm")
    space = root / "space.yaml"
    space.write_text(SPACE)
    args = ["--space", str(space), "--storage", str(root / "storage"), "--name", "c"]
    experiment = root / "storage" / "c"
    proc = _launch(args, data_cache, start_new_session=True)
    deadline = time.time() + 900
    while time.time() < deadline and proc.poll() is None and len(_finished_confirm_runs(experiment)) < 2:
        time.sleep(1)
    assert proc.poll() is None, "the search ended before its confirmation stage could be interrupted"
    done = _finished_confirm_runs(experiment)
    assert len(done) >= 2
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=300)
    before = {p.name: (p / "result.json").read_text() for p in done}
    resumed = _launch(args + ["--resume"], data_cache)
    out, _ = resumed.communicate(timeout=1200)
    assert resumed.returncode == 0, out[-4000:]
    return experiment, out, before


def test_resume_finishes_the_stage_without_retraining(confirmed) -> None:
    experiment, _, before = confirmed
    candidates = json.loads((experiment / CANDIDATES_FILE).read_text())
    runs = sorted((experiment / CONFIRM_DIR).glob("run_trial_*"))
    reused = sum(1 for c in candidates if c["search_trial"])
    assert reused == TOP  # the search candidates; the base config was not a search trial here
    assert len(runs) == len(candidates) * SEEDS - reused, [p.name for p in runs]
    for name, text in before.items():
        assert (experiment / CONFIRM_DIR / name / "result.json").read_text() == text, f"{name} was re-trained"


def test_candidates_are_the_top_distinct_configs_then_base_and_supervised(confirmed) -> None:
    experiment, _, _ = confirmed
    candidates = json.loads((experiment / CANDIDATES_FILE).read_text())
    roles = [c["role"] for c in candidates]
    assert roles == ["search"] * TOP + ["base", "supervised"]
    temps = [c["params"]["method.temperature"] for c in candidates[:TOP]]
    assert len(set(temps)) == TOP
    assert candidates[-1]["config"]["method"]["name"] == "supervised" and candidates[-1]["uses_labels"]
    # A search candidate's first seed is the search trial that trained it: that trial's own
    # params and seed (base seed + trial number - 1), to the last epoch.
    for c in candidates[:TOP]:
        trial = experiment / c["search_trial"]
        assert json.loads((trial / "params.json").read_text()) == c["params"]
        cfg = read_run_config(best_checkpoint(trial_run_dir(trial)))
        assert cfg.train.seed == trial_number(trial.name) - 1 and cfg.train.epochs == 2
    # The stage trains the other replicates with its own seeds, the same for every candidate.
    seeds: dict[int, set[int]] = {}
    for run in (experiment / CONFIRM_DIR).glob("run_trial_*"):
        job = json.loads((run / "params.json").read_text())["run"]
        cfg = read_run_config(run / "ssl" / "checkpoints" / "best")
        assert cfg.train.seed == SEED_OFFSET + job["replicate"] and cfg.train.epochs == 2
        seeds.setdefault(job["candidate"], set()).add(job["replicate"])
    assert seeds == {0: {1}, 1: {1}, 2: {0, 1}, 3: {0, 1}}, seeds


def test_a_search_candidate_that_is_the_base_config_replaces_it(confirmed) -> None:
    """When the base config is one of the search's top configurations (as `evaluate_first` makes
    likely), it is not trained again as its own candidate: the search candidate is named as it."""
    experiment, _, _ = confirmed
    space = load_space(experiment / "space.yaml")
    results, statuses = load_experiment(experiment)
    rows = trial_rows(results, space, statuses)
    top = rows[0].params["method.temperature"]
    base = {**space.base, "method": {**space.base["method"], "temperature": top}}
    candidates = pick_candidates(rows, replace(space, base=base), ())
    assert [c.role for c in candidates] == ["search"] * TOP + ["supervised"]
    assert candidates[0].name.endswith(", the base config)") and candidates[0].search_trial == rows[0].name
    assert "the base config" not in candidates[1].name
    # The supervised reference is the new base trained with labels; no search trial trained it.
    assert candidates[-1].config["method"]["temperature"] == top and candidates[-1].search_trial is None


def test_summary_begins_with_a_verdict_whose_words_follow_its_intervals(confirmed) -> None:
    experiment, out, _ = confirmed
    summary = (experiment / "summary.md").read_text()
    assert summary.splitlines()[2].startswith("## Verdict (test split, knn_top1, 2 seed(s)")
    verdict = json.loads((experiment / "verdict.json").read_text())
    against = [c["against"] for c in verdict["comparisons"]]
    assert against == ["untrained backbone", "fixed features", "base config", "supervised reference"]
    for comp in verdict["comparisons"]:
        assert comp["delta"] == pytest.approx(comp["a"] - comp["b"])
        assert comp["low"] <= comp["delta"] <= comp["high"]
        assert comp["verdict"].startswith("beats it") == (comp["low"] > 0), comp
        line = next(l for l in summary.splitlines() if f"vs {comp['against']}," in l)
        assert f"({comp['delta']:+.1f}, 95 % CI {comp['low']:+.1f}..{comp['high']:+.1f}): {comp['verdict']}" in line
    winner = next(c for c in json.loads((experiment / CANDIDATES_FILE).read_text())
                  if summary.count(f"recommended: {c['name']}"))
    first_seed = trial_number(winner["search_trial"]) - 1  # the search trial's own
    assert verdict["arms"]["untrained backbone"]["seeds"] == [first_seed, SEED_OFFSET + 1]
    assert "## Confirmation: 4 candidates x 2 seeds" in summary and "winner: search #" in summary
    assert "## Verdict" in out


def test_summarise_rebuilds_the_verdict_from_the_folder_alone(confirmed, data_cache) -> None:
    experiment, _, _ = confirmed
    first = (experiment / "verdict.json").read_text()
    (experiment / "verdict.json").unlink()
    proc = _launch(["--summarise", str(experiment)], data_cache)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    assert (experiment / "verdict.json").read_text() == first
