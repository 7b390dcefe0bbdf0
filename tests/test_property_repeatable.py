"""The property tests draw the same examples on every run, and fresh ones only when asked.

``tests/conftest.py`` registers two hypothesis profiles: ``repeatable`` (derandomised, the
default) and ``explore`` (random, ten times the examples), chosen by ``HYPOTHESIS_PROFILE``
or pytest's ``--hypothesis-profile``. Each check below runs real, separate Python processes
(with different hash seeds, as two CI runs would have) and compares what they drew.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
# Draws 40 examples of the config fuzz's strategy, under the profile conftest loads, and
# prints a digest of their reprs.
DRAW = """
import hashlib
import tests.conftest  # noqa: F401 - registers and loads the profile
from hypothesis import given, settings
from tests.test_config_fuzz import CONFIGISH

seen = []

@settings(max_examples=40, deadline=None)
@given(raw=CONFIGISH)
def draw(raw):
    seen.append(repr(raw))

draw()
print(hashlib.sha256("\\n".join(seen).encode()).hexdigest(), len(seen))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def _draw(**env: str) -> str:
    done = subprocess.run([sys.executable, "-c", DRAW], cwd=REPO, env=_env(**env), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    digest, count = done.stdout.split()
    assert int(count) == 40
    return digest


def test_two_runs_draw_the_same_examples() -> None:
    assert _draw(PYTHONHASHSEED="1") == _draw(PYTHONHASHSEED="2")


def test_the_explore_profile_draws_fresh_examples() -> None:
    first = _draw(HYPOTHESIS_PROFILE="explore")
    assert first != _draw(HYPOTHESIS_PROFILE="explore")
    assert first != _draw()


def test_loaded_profile_is_the_one_asked_for() -> None:
    """Run by the suite (``repeatable``) and by the subprocess below (``explore``)."""
    expected = os.environ.get("EXPECT_HYPOTHESIS_PROFILE", os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
    assert settings.get_current_profile_name() == expected
    assert settings.default.derandomize == (expected == "repeatable")


def test_the_pytest_option_selects_the_explore_profile() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-profile",
                           "explore", f"{Path(__file__).name}::test_loaded_profile_is_the_one_asked_for"],
                          cwd=Path(__file__).parent, env=_env(EXPECT_HYPOTHESIS_PROFILE="explore"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
