"""Random hostile YAML given as ``--config``: only ConfigError comes out, in bounded memory.

Issue 18: a nine-level alias bomb took 3 GB and died with a MemoryError (the error message
formatted the expanded value); duplicate keys were silently merged. The property test runs
in a child process whose address space is capped (RLIMIT_AS) a few hundred MB above what its
imports take, so an example that expanded an alias bomb, or formatted one, would die there.
The hand-written cases pin each refusal's message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ssl_core.config import ConfigError, load_config
from tests.capped_fuzz import run_capped_fuzz


def bomb(levels: int = 9, width: int = 9) -> str:
    """The billion-laughs document: ``width ** levels`` values from a few hundred bytes."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\ndata:\n  fold_map: *a{levels - 1}\n"




def yaml_texts():
    """Hostile YAML documents: alias bombs and cycles, duplicate keys, odd scalars and tags,
    deep flow and block nesting, mixed with real config sections."""
    from hypothesis import strategies as st

    odd = st.sampled_from(["2020-13-45", "!!bool maybe", "9" * 5000, "!!timestamp x", "!!int", "!!float .",
                           "!!binary ZZ", "!!python/object:os.system", "*nope", "&x", "~", "0x10", ".nan", "1e400",
                           "-.inf", "'", '"', "[", "{a: b", "? [a]\n  : 1", "|", "%", "@", "`", "\t", "yes", "no"])
    sections = st.sampled_from(["data", "method", "train", "optim", "frontend"])
    keys = st.sampled_from(["batch_size", "temperature", "name", "seed", "fold_map", "dataset", "lr", "x"])
    scalar_line = st.builds(lambda s, k, v: f"{s}:\n  {k}: {v}\n", sections, keys, odd | st.integers().map(str))
    duplicate = st.builds(lambda s, k, a, b: f"{s}:\n  {k}: {a}\n  {k}: {b}\n", sections, keys,
                          st.integers(0, 9), st.integers(0, 9))
    bombs = st.builds(bomb, st.integers(1, 12), st.integers(2, 12))
    cycle = st.sampled_from(["a: &a [*a]\n", "a: &a {b: *a}\n", "data: &d {fold_map: *d}\n"])
    flow = st.integers(1, 6000).map(lambda d: "data:\n  fold_map: " + "[" * d + "]" * d + "\n")
    block = st.integers(1, 400).map(lambda d: "".join("  " * i + f"k{i}:\n" for i in range(d)))
    merge = st.just("base: &b {batch_size: 8}\ndata:\n  <<: *b\n  batch_size: 16\n")
    part = scalar_line | duplicate | bombs | cycle | flow | block | merge
    return st.lists(part, min_size=1, max_size=3).map("".join)


def test_random_hostile_yaml_gives_only_config_errors_in_bounded_memory() -> None:
    run_capped_fuzz(imports="from ssl_core.config import ConfigError, load_config\n"
                            "from tests.test_config_yaml_fuzz import yaml_texts",
                    warm_up="load_config(None)", strategy="yaml_texts()",
                    load="load_config", error="ConfigError")


@pytest.mark.parametrize("text, expected", [
    (bomb(), r"is not valid YAML \(AliasExpansion: the value at line 6 expands to more than 100,000 values through "
             r"aliases \(\*name\); write the values out"),
    ("method:\n  temperature: 0.1\n  temperature: 0.2\n",
     r"is not valid YAML \(DuplicateKey: key 'temperature' is given twice in one mapping, on lines 2 and 3; keep one"),
    ("method: {name: byol}\nmethod: {name: simclr}\n", r"DuplicateKey: key 'method' .* on lines 1 and 2"),
    ("data: &d {fold_map: *d}\n", r"AliasCycle: the alias at line 1 refers to a value that contains it"),
    ("data:\n  fold_map: " + "[" * 100 + "]" * 100 + "\n", r"Nesting: values are nested more than 64 deep"),
    ("data:\n  dataset: 2020-13-45\n", r"ValueError: month must be in 1..12: a value that cannot be read; quote it"),
    ("data:\n  cache_decoded: !!bool maybe\n", r"KeyError: maybe: a value that cannot be read; quote it"),
])
def test_each_hostile_yaml_is_refused_naming_the_problem_and_the_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"config file {path} is not valid YAML (")
    assert len(str(refused.value)) < 400  # never a whole value


def test_merge_keys_still_override_on_purpose(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  <<: {batch_size: 8, crop_seconds: 1.0}\n  batch_size: 16\n")
    cfg = load_config(path)
    assert (cfg.data.batch_size, cfg.data.crop_seconds) == (16, 1.0)
