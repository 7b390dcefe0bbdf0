"""Each trial of a search trains with its own seed: a configuration proposed twice is sampled twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from search_spaces import load_space, resolve_config
from tests.tiny import tiny_space_text
from trainables.trial import TrialSetup, trial_config
from trainables.trial_folder import trial_number


@pytest.mark.parametrize("name, number", [
    ("run_trial_a144df3e_6_method_temperature=0.8474_2026-12-04_21-34-55", 6),
    ("run_trial_0000abcd_12", 12),
    ("run_trial_1549453b_1_method_name=simclr,method_temperature=0.2_2026-01-01_00-00-00", 1),
    # Tune's own variant generator (no searcher): the index counts from 0.
    ("run_trial_aab8c_00000_0_2026-12-06_03-25-21", 1),
    ("run_trial_33666_00007_7_candidate=3,replicate=1_2026-12-06_02-46-47", 8),
])
def test_trial_number_from_the_folder_name(name: str, number: int) -> None:
    assert trial_number(name) == number


def test_a_folder_without_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="no trial number"):
        trial_number("best_trial")


def test_trial_n_trains_with_the_base_seed_plus_n_minus_1(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=4, epochs=2,
                                    concurrent=1, base={"train": {"seed": 10}}))
    space = load_space(path)
    params = {"method.temperature": 0.3}
    setup = TrialSetup(space=space, overrides=(), storage_path=str(tmp_path), experiment="x")
    seeds = [trial_config(setup, params, number).train.seed for number in (1, 2, 3)]
    assert seeds == [10, 11, 12]
    # Everything else is the same configuration.
    first, third = trial_config(setup, params, 1).to_dict(), trial_config(setup, params, 3).to_dict()
    first["train"].pop("seed"), third["train"].pop("seed")
    assert first == third
    assert resolve_config(space, params).train.seed == 10  # outside a search: the base seed
