"""Property tests: any YAML structure or text given as a search space loads, or is refused
with a SearchSpaceError, never with a KeyError, TypeError or AttributeError."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search_spaces import SearchSpaceError, load_space, resolve_config, sample_params
from tests.space_cases import set_key, valid_space

KEYS = st.sampled_from(["description", "base", "params", "objective", "budget", "scheduler", "notes",
                        "metric", "mode", "trials", "epochs", "max_concurrent", "name", "grace_period",
                        "reduction_factor", "method", "data", "augment", "method.temperature",
                        "data.batch_size", "uniform", "loguniform", "quniform", "int", "log_int", "choice",
                        "temperature", "batch_size"]) | st.text(max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(["knn_top1", "max", "asha", "none", "simclr", "1e-3"]))
YAMLISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(KEYS | st.integers(-3, 3), inner, max_size=5), max_leaves=25)


@st.composite
def mutated_spaces(draw: st.DrawFn) -> Any:
    """A valid space with one subtree replaced: reaches the deep checks, not only the first."""
    raw = valid_space()
    node: Any = raw
    path = []
    while isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node, key=str)))
        path.append(key)
        node = node[key]
    if not path:
        return draw(YAMLISH)
    return set_key(raw, path, draw(YAMLISH))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(raw=YAMLISH | mutated_spaces())
def test_any_yaml_structure_loads_or_raises_search_space_error(raw: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))
        try:
            space = load_space(path)
        except SearchSpaceError:
            return
        # Whatever loads must also sample and resolve.
        resolve_config(space, sample_params(space, np.random.default_rng(0)))


@settings(max_examples=60, deadline=None, database=None)
@given(text=st.text(max_size=200))
def test_any_text_file_loads_or_raises_search_space_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_space(path)
        except SearchSpaceError:
            pass
