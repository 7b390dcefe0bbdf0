"""bench/gpu_suite.sh end to end in its CPU smoke mode, with ray and optuna made unimportable.

The suite is what a GPU machine without Ray runs; here every part runs at tiny sizes on the CPU
and each table is read back. ``ray`` and ``optuna`` are shadowed by packages that raise
ImportError, so a part that imported either (directly or through a module it uses) fails.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ssl_core.methods import METHODS

REPO = Path(__file__).resolve().parents[1]


def _shadow(folder: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        package = folder / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"raise ImportError('{name} is not installed on the GPU machine')\n")
    return folder


@pytest.mark.slow  # 2-4 minutes on 2 shared cores: five fresh interpreters, nine methods, a pytest run
def test_cpu_smoke_suite_writes_every_table(tmp_path, birdsong_root) -> None:
    shadow = _shadow(tmp_path / "shadow", ("ray", "optuna"))
    out = tmp_path / "out"
    env = os.environ | {"PYTHON": sys.executable, "PYTHONPATH": str(shadow)}
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_suite.sh"), str(out), "--device", "cpu"],
                          capture_output=True, text=True, timeout=1200, env=env, cwd=tmp_path)
    summary = (out / "summary.txt").read_text() if (out / "summary.txt").exists() else ""
    tables = {p.name: p.read_text()[-3000:] for p in out.glob("*.txt")}
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:], tables)
    assert re.search(r"suite: \d+ s on cpu, exit 0", summary)

    environment = (out / "environment.txt").read_text()
    assert re.search(r"^ray +absent \(not needed\)$", environment, re.M)  # the shadow was in force
    assert re.search(r"^optuna +absent \(not needed\)$", environment, re.M)

    loader = (out / "loader.txt").read_text()
    assert re.search(r"^loader .* [0-9.]+ samples/s", loader, re.M) and re.search(r"^device .* samples/s", loader, re.M)

    def rows(name: str) -> dict[str, list[str]]:
        return {line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]]
                for line in (out / name).read_text().splitlines() if re.match(r"\w+ +\| +[0-9]", line)}

    r18 = rows("resnet18.txt")
    assert list(r18) == ["simclr"]
    assert "resnet18" in (out / "resnet18.txt").read_text() and "views [8, 1, 128, 51]" in (out / "resnet18.txt").read_text()
    *_, mfu, pure_mfu, eval_share = r18["simclr"]
    assert all(v.endswith("%") for v in (mfu, pure_mfu, eval_share))
    assert set(rows("methods.txt")) == set(METHODS)

    train = (out / "train.txt").read_text()
    assert re.search(r"training steps [0-9.]+ s of [0-9.]+ s wall \(\d+%\) up to epoch 1", train)
    assert (out / "train_run" / "checkpoints").is_dir()

    budget = (out / "budget.txt").read_text()  # epoch 0 (untrained), 1 and 2, each against the fixed features
    assert [row.split("|")[1].strip() for row in budget.splitlines() if re.match(r"\| \d+ \|", row)] == ["0", "1", "2"]
    assert re.search(r"logistic regression on them: [0-9.]+", budget)

    cuda_tests = (out / "cuda_tests.txt").read_text()
    # No GPU here: the CUDA cases are collected (skipped, or run where they also cover the CPU), none fails.
    assert re.search(r"\d+ (passed|skipped)", cuda_tests) and re.search(r"\d+ deselected", cuda_tests)
    assert "failed" not in cuda_tests and "error" not in cuda_tests.lower()


def test_without_soundfile_or_its_wheels_the_suite_stops_at_once_naming_the_fix(tmp_path) -> None:
    """A bare GPU image lacks soundfile: with no wheels to install it from, the suite says so
    before any part runs (and writes no table)."""
    shadow = _shadow(tmp_path / "shadow", ("soundfile",))
    out = tmp_path / "out"
    env = os.environ | {"PYTHON": sys.executable, "PYTHONPATH": str(shadow),
                        "SSL_SEARCH_WHEELS": str(tmp_path / "no_wheels")}
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_suite.sh"), str(out), "--device", "cpu"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "soundfile cannot be imported" in done.stderr and "no_wheels holds no wheels" in done.stderr
    assert "pip download command in this script's header" in done.stderr
    assert not (out / "summary.txt").exists()


@pytest.mark.slow  # pip installs three wheels into a folder: a few seconds, but it needs them fetched
def test_carried_wheels_install_soundfile_past_a_shadow(tmp_path) -> None:
    """The wheel path itself: soundfile shadowed, wheels of this Python's soundfile, cffi and
    pycparser in $SSL_SEARCH_WHEELS (fetched here by pip from its cache or index; the test fails,
    not skips, when pip cannot fetch them): the suite installs them and gets past its check."""
    wheels = tmp_path / "wheels"
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                              "-d", str(wheels), "soundfile==0.14.0", "cffi==2.1.1", "pycparser==3.12"],
                             capture_output=True, text=True, timeout=300)
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    shadow = _shadow(tmp_path / "shadow", ("soundfile",))
    env = os.environ | {"PYTHON": sys.executable, "PYTHONPATH": str(shadow), "SSL_SEARCH_WHEELS": str(wheels)}
    # A bad argument after the check stops the suite before any part runs.
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_suite.sh"), str(tmp_path / "out"), "--device", "cpu",
                           "--stop-after-setup"], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert "soundfile: installed from" in done.stdout, (done.stdout, done.stderr)
    assert done.returncode == 0, (done.stdout, done.stderr)
