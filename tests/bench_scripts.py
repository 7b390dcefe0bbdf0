"""Helpers for tests of bench/ scripts: import one as a module (bench/ is not a package; its scripts run
from anywhere), or run one as the user would."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_bench(name: str) -> ModuleType:
    """``bench/<name>.py`` as the module ``bench_<name>``."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


def run_bench(name: str, args: list[str], data_cache: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python bench/<name>.py *args`` from the repository with the test data cache; asserts it
    exited 0 (the end of its output in the message otherwise)."""
    env = dict(os.environ, SSL_SEARCH_CACHE=str(data_cache))
    done = subprocess.run([sys.executable, f"bench/{name}.py", *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=timeout)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done
