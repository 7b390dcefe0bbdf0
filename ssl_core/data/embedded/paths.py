"""Where embedded datasets live, and their atomic generation on first use."""
from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED = ("birdsong", "digits")
VERSION = "v1"  # bump when a generator's output changes, so stale caches are not reused
CACHE_ENV = "SSL_SEARCH_CACHE"


def cache_root(cache_dir: Path | None = None) -> Path:
    """``cache_dir``, else ``$SSL_SEARCH_CACHE``, else ``~/.cache/ssl-search``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ssl-search"


def embedded_path(name: str, cache_dir: Path | None = None) -> Path:
    """Root of embedded dataset ``name`` (``cache/<name>-v1``), generated on first use.

    Generation writes into a fresh temporary sibling folder and renames it into place at the
    end. A rename is atomic, so the root either does not exist or is complete: an interrupted
    generation leaves only a hidden temporary folder. When several processes generate at once,
    the first rename wins; a later one finds the root present and discards its own copy.
    """
    if name not in EMBEDDED:
        raise ValueError(f"unknown embedded dataset {name!r}; valid names: {EMBEDDED}")
    cache = cache_root(cache_dir)
    root = cache / f"{name}-{VERSION}"
    if root.is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(f"{__package__}.{name}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-{VERSION}.tmp-", dir=cache))
    try:
        module.generate(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private (0700); a cache is shared
        try:
            os.rename(tmp, root)
        except OSError:
            if not root.is_dir():  # a real failure, not a lost race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root
