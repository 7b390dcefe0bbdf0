"""A wrong-typed config value is named in the refusal, cut, never printed whole (issue 18).

The values are huge (tens of thousands of list items, a megabyte string, a 5,000-digit
integer); the message must stay a readable line that names the field and the expected type.
"""
from __future__ import annotations

import pytest

from ssl_core.config import ConfigError, load_config
from ssl_core.config_values import coerce_value

LIMIT = 300  # characters: a message line, whatever the value's size


def test_a_huge_list_for_a_mapping_field_is_cut_in_the_message(tmp_path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("data:\n  fold_map: [" + ", ".join(str(i) for i in range(50_000)) + "]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "data.fold_map" in message and "expected a mapping" in message
    assert "[0, 1, 2" in message and "49999" not in message  # shown, and cut
    assert len(message) < LIMIT


@pytest.mark.parametrize("value, annotation, expected", [
    ({str(i): i for i in range(100_000)}, int, "expected an integer"),
    ("x" * 1_000_000, float, "expected a number"),
    (list(range(1_000_000)), tuple[float, float], "expected a list of 2 numbers"),
    ([[[[[[[[["deep"]]]]]]]]] * 10_000, str, "expected a string"),
    ("y" * 1_000_000, bool, "expected true or false"),
    (10 ** 5000, float, "an integer of about 5001 digits is too large"),
], ids=["mapping-for-int", "text-for-float", "list-for-pair", "nested-for-str", "text-for-bool", "huge-int"])
def test_every_type_refusal_bounds_the_value(value, annotation, expected) -> None:
    with pytest.raises(ConfigError) as err:
        coerce_value(value, annotation, "optim.lr")
    message = str(err.value)
    assert message.startswith("optim.lr: ") and expected in message
    assert len(message) < LIMIT


def test_a_short_value_is_still_shown_whole() -> None:
    with pytest.raises(ConfigError, match=r"optim.lr: expected a number, got 'abc'$"):
        coerce_value("abc", float, "optim.lr")
