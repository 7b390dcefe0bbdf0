"""Field values from YAML and command-line text, coerced to the field's annotated type.

``ssl_core.config.set_value`` uses these; each refusal names the field (``where``) and the
type it expects, so a message starts with the dotted key as every config error does. A value
is shown cut (``safe_yaml.short``), never whole: a mapping of a million keys given for a
number must not become a message of megabytes.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, Mapping

from ssl_core.config_errors import ConfigError
from ssl_core.safe_yaml import YamlError, load_yaml, short

# YAML's spellings of null; an optional text field given one of them is unset (None).
NULL_TEXT = ("", "~", "null", "Null", "NULL")


def _shown(value: Any) -> str:
    """``value`` for a message, cut (``safe_yaml.short``); a huge integer by its size (its digits
    alone could be megabytes, and Python refuses to print more than 4,300 of them)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return short(value)


def coerce_value(value: Any, annotation: Any, where: str) -> Any:
    """Convert a YAML/CLI value to the field's annotated type, or raise ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return coerce_value(value, non_none[0], where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} numbers, got {_shown(value)}")
        return tuple(coerce_value(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {_shown(value)}")
        return {str(k): str(v) for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, got {_shown(value)}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {_shown(value)}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {_shown(value)}")
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {_shown(value)}")
        if isinstance(value, (int, float)):
            try:
                return float(value)
            except OverflowError:  # an int past 1.8e308
                raise ConfigError(f"{where}: {_shown(value)} is too large for a number; "
                                  "give a value within float range") from None
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {_shown(value)}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {_shown(value)}")
    raise ConfigError(f"{where}: unsupported type {annotation!r}")


@functools.cache
def section_types(section_cls: type) -> dict[str, Any]:
    # Cached: get_type_hints evaluates the string annotations each call (~0.25 ms), and
    # config_from_dict calls it once per key (every search trial and space probe).
    return typing.get_type_hints(section_cls)


def parse_text(text: str) -> Any:
    """YAML-parse a text value; text YAML cannot read ('[', '*x', control characters) stays
    text, so that ``_coerce`` refuses it with the field's name and the expected type."""
    if not text.strip():
        return text
    try:
        # Bounded (ssl_core.safe_yaml): "&a [...]" aliases cannot expand a --set value to gigabytes.
        return load_yaml(text, where="--set value")
    except YamlError:  # not YAML: the text itself, refused or kept by the field's type
        return text


def is_optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def is_string_field(annotation: Any) -> bool:
    return annotation is str or (typing.get_origin(annotation) in (typing.Union, types.UnionType)
                                 and str in typing.get_args(annotation))
