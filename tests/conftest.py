"""Shared fixtures: one cache of the embedded datasets for the whole test session.

The embedded datasets are deterministic and versioned, so the cache under
``<repo>/.cache/test-data`` (git-ignored) is generated once and reused by later runs;
set SSL_SEARCH_CACHE to put it elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("SSL_SEARCH_CACHE", str(REPO / ".cache" / "test-data"))


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
