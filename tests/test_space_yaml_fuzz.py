"""Random hostile YAML given as a search space: only SearchSpaceError comes out, in bounded memory.

Issue 18: an alias bomb in a space (``notes``, a ``choice``, ``base.data.fold_map``) took 3 GB
and died with a MemoryError; duplicate keys were silently merged; a bad date, ``!!bool maybe``,
a 5,000-digit integer and 5,000 nested ``[`` gave ValueError / KeyError / RecursionError
tracebacks. The space loader now reads through ``ssl_core.safe_yaml``. The property test runs
in a child process whose address space is capped (RLIMIT_AS) a few hundred MB above what its
imports hold, as ``tests/test_config_yaml_fuzz.py`` does for ``--config`` files; the
hand-written cases pin each message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from search_spaces import SearchSpaceError, load_space
from tests.space_cases import valid_space
from tests.capped_fuzz import run_capped_fuzz
from tests.test_config_yaml_fuzz import bomb, yaml_texts

ODD = ["2020-13-45", "!!bool maybe", "9" * 5000, "!!timestamp x", "!!int", "!!float .", "!!binary ZZ",
       "!!python/object:os.system", "*nope", "&x", "~", "0x10", ".nan", "1e400", "-.inf", "'", "[", "{a: b", "|"]


def space_without(*keys: str) -> str:
    """A valid space's YAML without ``keys`` (the hostile part supplies them)."""
    raw = {k: v for k, v in valid_space().items() if k not in keys}
    return yaml.safe_dump(raw, sort_keys=False)


def space_bomb(levels: int, width: int, target: str) -> str:
    """A valid space whose ``target`` (a choice, base.data.fold_map or notes) is an alias bomb,
    its anchors defined in a list under ``notes``."""
    anchors = [f"  - &a0 [{', '.join(['lol'] * width)}]"]
    anchors += [f"  - &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    top = f"*a{levels - 1}"
    if target == "choice":
        return (space_without("params", "notes") + "notes:\n" + "\n".join(anchors)
                + f"\nparams:\n  method.temperature: {{choice: {top}}}\n")
    if target == "fold_map":
        return (space_without("base", "notes") + "notes:\n" + "\n".join(anchors)
                + f"\nbase:\n  data: {{fold_map: {top}}}\n")
    return space_without("notes") + "notes:\n" + "\n".join(anchors) + f"\n  - {top}\n"


def space_texts():
    """Hostile search spaces: a valid space with a bomb, a duplicate key, an odd scalar or deep
    nesting in it, or any of the hostile config documents (tests/test_config_yaml_fuzz.py)."""
    from hypothesis import strategies as st

    bombs = st.builds(space_bomb, st.integers(1, 12), st.integers(2, 12),
                      st.sampled_from(["choice", "fold_map", "notes"]))
    odd_notes = st.sampled_from(ODD).map(lambda v: space_without("notes") + f"notes: {v}\n")
    odd_budget = st.sampled_from(ODD).map(
        lambda v: space_without("budget") + f"budget: {{trials: {v}, epochs: 3, max_concurrent: 2}}\n")
    duplicate_param = st.sampled_from(["method.temperature", "data.batch_size"]).map(
        lambda k: space_without("params") + f"params:\n  {k}: {{choice: [1, 2]}}\n  {k}: {{choice: [3]}}\n")
    duplicate_top = st.sampled_from(["budget", "objective", "description"]).map(
        lambda k: space_without() + yaml.safe_dump({k: valid_space()[k]}))
    flow = st.integers(1, 6000).map(lambda d: space_without("notes") + "notes: " + "[" * d + "]" * d + "\n")
    block = st.integers(1, 400).map(lambda d: space_without("base") + "base:\n"
                                    + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(d)))
    cycle = st.just(space_without("notes") + "notes: &n [*n]\n")
    return bombs | odd_notes | odd_budget | duplicate_param | duplicate_top | flow | block | cycle | yaml_texts()




def test_random_hostile_yaml_gives_only_search_space_errors_in_bounded_memory() -> None:
    run_capped_fuzz(imports="from search_spaces import SearchSpaceError, load_space\n"
                            "from tests.test_space_yaml_fuzz import space_texts",
                    warm_up='load_space("simclr_temp")', strategy="space_texts()", load="load_space",
                    error="SearchSpaceError")


@pytest.mark.parametrize("text, expected", [
    (space_bomb(9, 9, "choice"), r"AliasExpansion: the value at line \d+ expands to more than 100,000 values through "
                                 r"aliases \(\*name\); write the values out"),
    (space_bomb(9, 9, "fold_map"), r"AliasExpansion: .* write the values out"),
    (space_without("notes") + bomb().replace("data:\n  fold_map:", "notes:"), r"AliasExpansion: "),
    (space_without("params") + "params:\n  method.temperature: {uniform: [0.1, 1]}\n"
                               "  method.temperature: {uniform: [0.1, 2]}\n",
     r"DuplicateKey: key 'method.temperature' is given twice in one mapping, on lines \d+ and \d+; keep one"),
    (space_without() + "budget: {trials: 1, epochs: 1, max_concurrent: 1}\n",
     r"DuplicateKey: key 'budget' is given twice in one mapping, on lines \d+ and \d+"),
    (space_without("notes") + "notes: 2020-13-45\n",
     r"ValueError: month must be in 1..12: a value that cannot be read; quote it"),
    (space_without("notes") + "notes: !!bool maybe\n", r"KeyError: maybe: a value that cannot be read; quote it"),
    (space_without("notes") + "notes: " + "9" * 5000 + "\n", r"ValueError: Exceeds the limit .* quote it"),
    (space_without("notes") + "notes: " + "[" * 5000 + "]" * 5000 + "\n",
     r"RecursionError: values are nested too deeply to read; flatten the structure"),
    (space_without("notes") + "notes: " + "[" * 100 + "]" * 100 + "\n", r"Nesting: values are nested more than 64"),
    (space_without("notes") + "notes: &n [*n]\n", r"AliasCycle: the alias at line \d+ refers to a value that "
                                                  r"contains it"),
])
def test_each_hostile_space_is_refused_naming_the_problem_and_the_fix(tmp_path: Path, text: str,
                                                                      expected: str) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(SearchSpaceError, match=expected) as refused:
        load_space(path)
    assert str(refused.value).startswith(f"search space {path} is not valid YAML (")
    assert len(str(refused.value)) < 400  # never a whole value


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    text = space_without("params") + "params:\n  method.temperature: {uniform: [0.1, 1]}\n" \
                                     "  data.batch_size: {choice: [8]}\n  method.temperature: {uniform: [0.1, 2]}\n"
    path.write_text(text)
    lines = text.splitlines()
    first, second = [i + 1 for i, line in enumerate(lines) if line.startswith("  method.temperature")]
    with pytest.raises(SearchSpaceError, match=f"on lines {first} and {second};"):
        load_space(path)


def test_a_valid_space_with_anchors_and_bare_exponents_still_loads(tmp_path: Path) -> None:
    """Aliases within the bound stay allowed, and ``1e-4`` is still a number (YAML 1.2)."""
    path = tmp_path / "space.yaml"
    path.write_text(space_without("params") + "params:\n  optim.lr: &lrs {choice: [1e-4, 3e-4]}\n"
                    "notes: 'the same lrs: see params'\n")
    space = load_space(path)
    assert space.params["optim.lr"].describe() == "choice(0.0001, 0.0003)"


def test_shipped_spaces_still_list_and_load() -> None:
    from search_spaces import list_spaces

    names = [name for name, _ in list_spaces()]
    assert "simclr_temp" in names
    for name in names:
        load_space(name)


def test_a_long_value_in_a_structural_error_is_cut_in_the_middle(tmp_path: Path) -> None:
    """Under the alias bound, a value can still be thousands of characters (4**4 values in
    base.data.fold_map): the message keeps its head (file, field, problem) and tail, not the value."""
    path = tmp_path / "space.yaml"
    path.write_text(space_bomb(5, 4, "fold_map"))
    with pytest.raises(SearchSpaceError) as refused:
        load_space(path)
    message = str(refused.value)
    assert message.startswith(f"search space {path}: base: data.fold_map: expected a mapping, got [[[[")
    assert "characters left out) ..." in message and len(message) < 700
