"""The confirmation stage and the verdict, through launch.py and a real Ray on loopback.

One tiny search (3 trials) with ``confirm: {top: 2, seeds: 2, epochs: 2}`` is interrupted while
the confirmation stage trains and resumed; the checks read what it wrote.
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

from ssl_core.run import read_run_config
from tests.tiny import tiny_space_text
from trainables.confirm import CANDIDATES_FILE, CONFIRM_DIR, SEED_OFFSET

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
    assert len(runs) == len(candidates) * SEEDS, [p.name for p in runs]
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
    # Every candidate trains with the same seeds, distinct from the search trials' seeds.
    seeds: dict[int, set[int]] = {}
    for run in (experiment / CONFIRM_DIR).glob("run_trial_*"):
        config = json.loads((run / "params.json").read_text())
        cfg = read_run_config(run / "ssl" / "checkpoints" / "best")
        seeds.setdefault(config["candidate"], set()).add(cfg.train.seed)
        assert cfg.train.epochs == 2
    assert all(s == {SEED_OFFSET, SEED_OFFSET + 1} for s in seeds.values()), seeds


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
    assert verdict["arms"]["untrained backbone"]["seeds"] == [SEED_OFFSET, SEED_OFFSET + 1]
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
