"""Where embedded datasets live, and their atomic generation on first use.

Names: each generator module of :data:`EMBEDDED` (``birdsong``, ``digits``), plus larger
deterministic draws of birdsong, ``birdsong-x<N>`` for N in :data:`BIRDSONG_SCALES` (N times
as many recordings of the same 20 species; see ``birdsong.py``). :data:`EMBEDDED_NAMES` lists
them all; :func:`embedded_generator` says which generator a name uses.
"""
from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from typing import Callable

from ssl_core.atomic import atomic_directory

EMBEDDED = ("birdsong", "digits")  # generator modules of this package, one per base dataset
BIRDSONG_SCALES = (2, 4, 8, 16)    # birdsong-x16 takes minutes to generate on 2 cores
_SCALED = {f"birdsong-x{n}": ("birdsong", n) for n in BIRDSONG_SCALES}
EMBEDDED_NAMES = EMBEDDED + tuple(_SCALED)  # every name that embedded_path accepts
VERSION = "v2"  # bump when a generator's output changes, so stale caches are not reused (v2: birdsong's nuisance.csv)
CACHE_ENV = "SSL_SEARCH_CACHE"


def cache_root(cache_dir: Path | None = None) -> Path:
    """``cache_dir``, else ``$SSL_SEARCH_CACHE``, else ``~/.cache/ssl-search``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ssl-search"


def pin_cache_env() -> None:
    """Make a relative ``$SSL_SEARCH_CACHE`` absolute, against this process's working folder.

    Processes started later inherit the variable, not the folder: Ray Tune runs each trial in
    its own working folder, where ``SSL_SEARCH_CACHE=.cache`` named a new, empty cache, so every
    trial generated the embedded data again (and a trial killed while generating left its
    process pool deadlocked). The launcher pins it before Ray starts.
    """
    env = os.environ.get(CACHE_ENV)
    if env and not Path(env).expanduser().is_absolute():
        os.environ[CACHE_ENV] = str(Path(env).expanduser().resolve())


def embedded_generator(name: str) -> tuple[str, int]:
    """(generator module of :data:`EMBEDDED`, scale) of embedded dataset ``name``.

    ``birdsong-x4`` -> ("birdsong", 4); a base name -> (name, 1). Raises ValueError naming the
    valid names for anything else (e.g. ``birdsong-x3``: only :data:`BIRDSONG_SCALES`).
    """
    if name in EMBEDDED:
        return name, 1
    if name in _SCALED:
        return _SCALED[name]
    raise ValueError(f"unknown embedded dataset {name!r}; valid names: {EMBEDDED_NAMES}")


def embedded_path(name: str, cache_dir: Path | None = None) -> Path:
    """Root of embedded dataset ``name`` (``cache/<name>-<VERSION>``), generated on first use."""
    module_name, scale = embedded_generator(name)
    cache = cache_root(cache_dir)
    root = cache / f"{name}-{VERSION}"
    if root.is_dir():
        return root
    generate = importlib.import_module(f"{__package__}.{module_name}").generate
    if scale != 1:  # only birdsong has scaled draws; digits.generate takes no scale
        generate = functools.partial(generate, scale=scale)
    _generate_atomically(root, generate)
    return root


def _generate_atomically(root: Path, generate: Callable[[Path], None]) -> None:
    """Run ``generate(folder)`` so that ``root`` appears complete or not at all.

    Generation writes into a fresh temporary sibling folder that is renamed into place at the
    end (:func:`ssl_core.atomic.atomic_directory`): an interrupted generation leaves only a
    hidden temporary folder. When several processes generate at once, the first rename wins;
    a later one finds the root present and discards its own (identical) copy.
    """
    with atomic_directory(root, replace=False) as tmp:
        generate(tmp)
