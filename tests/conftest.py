"""Shared fixtures: one cache of the embedded datasets for the whole test session.

The embedded datasets are deterministic and versioned, so the cache under
``<repo>/.cache/test-data`` (git-ignored) is generated once and reused by later runs;
set SSL_SEARCH_CACHE to put it elsewhere.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("SSL_SEARCH_CACHE", str(REPO / ".cache" / "test-data"))
# Test epochs last about a second: a faster Train report poll than the product's 2 s keeps
# searches short (trainables/search.py explains the product's choice). Inherited by the
# launch.py and `ray start` processes that tests spawn.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")


def _ray_test_token() -> None:
    """Every Ray the tests start runs with token authentication, from a token kept out of
    ``~/.ray`` (a local ``ray.init()`` would otherwise write one into the real home)."""
    if os.environ.get("RAY_AUTH_TOKEN_PATH") or os.environ.get("RAY_AUTH_TOKEN"):
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        return
    path = REPO / ".cache" / "ray-test" / "auth_token"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(path)
    os.environ["RAY_AUTH_MODE"] = "token"


_ray_test_token()


def _hypothesis_profile() -> None:
    """Property tests draw the same examples on every run (``derandomize``): a failure then
    belongs to the change that caused it, not to the luck of the draw. ``HYPOTHESIS_PROFILE=explore``
    draws fresh random examples (ten times as many where a test does not set its own count), for a
    developer who goes looking for bugs."""
    from hypothesis import settings

    settings.register_profile("repeatable", derandomize=True, database=None)
    settings.register_profile("explore", derandomize=False, database=None,
                              max_examples=10 * settings.default.max_examples)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


_hypothesis_profile()


@pytest.fixture(scope="session")
def data_cache() -> Path:
    return Path(os.environ["SSL_SEARCH_CACHE"])


@pytest.fixture(scope="session")
def birdsong_root(data_cache: Path) -> Path:
    from ssl_core.data.embedded import embedded_path

    return embedded_path("birdsong", data_cache)


@pytest.fixture(scope="session")
def digits_root(data_cache: Path) -> Path:
    from ssl_core.data.embedded import embedded_path

    return embedded_path("digits", data_cache)
