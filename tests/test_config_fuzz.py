"""Property tests: any YAML structure, text file or ``--set`` override given as a run config
loads and validates, or is refused with a ConfigError that names the key, never with a
KeyError, TypeError, OverflowError or a raw YAML error. What loads round-trips."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssl_core.config import Config, ConfigError, config_from_dict, load_config

# The real section and field names, read from the dataclasses so new fields are fuzzed too.
SECTIONS = [f.name for f in dataclasses.fields(Config)]
FIELDS = {s: list(typing.get_type_hints(type(getattr(Config(), s)))) for s in SECTIONS}
DOTTED = sorted(f"{s}.{k}" for s, keys in FIELDS.items() for k in keys)
FIELD_NAMES = sorted({k for keys in FIELDS.values() for k in keys})

KEYS = st.sampled_from(SECTIONS + FIELD_NAMES + DOTTED) | st.text(max_size=8)
# Text that YAML reads as something else (or not at all) and numbers past float range.
TRICKY_TEXT = st.sampled_from(["[", "{a: b", "]", "&x", "*x", "!!python/object:os.system", "- a", "'", '"',
                               "\x00", "null", "~", "1e400", "-.inf", ".nan", "0x10", "1_000", "yes", "off",
                               "---\n---", "? [a]\n: 1", "2020-01-01", "a: b", "[0.7, 0.15, 0.15]", "",
                               "  ", "cuda:1", "auto", "resnet10t", "simclr", "moco", "%", "@", "`", "|",
                               # PyYAML raises ValueError, KeyError, AttributeError, RecursionError on these.
                               "!!bool x", "!!timestamp x", "!!int x", "!!float .", "2020-13-45", "9" * 5000,
                               "[" * 3000 + "]" * 3000])
# Numbers past float range, at its edges, and the non-finite ones.
HUGE = st.sampled_from([10**400, -(10**400), 10**19, 2**63, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan])
SCALARS = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | HUGE
           | st.text(max_size=12) | TRICKY_TEXT)
YAMLISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(KEYS | st.integers(-3, 3), inner, max_size=5), max_leaves=25)
# Values near the real ranges reach the deep (cross-field) checks, not only the type checks.
NEAR_VALID = (st.integers(-2, 70000) | st.floats(-2.0, 20000.0) | st.sampled_from([0, 1, 0.0, 1.0, 0.5, 1e-9])
              | st.lists(st.floats(-0.5, 1.5), min_size=3, max_size=3)
              | st.dictionaries(st.text(max_size=3), st.sampled_from(["train", "val", "test", "x"]), max_size=3))
# one_of draws each branch about equally often: the rare edges are not drowned by random structures.
VALUES = st.one_of(HUGE, TRICKY_TEXT, NEAR_VALID, YAMLISH)
# Shaped like a config (sections of fields) so that most examples reach set_value and validate.
CONFIGISH = st.dictionaries(st.sampled_from(SECTIONS) | KEYS,
                            st.dictionaries(st.sampled_from(FIELD_NAMES) | KEYS, VALUES, max_size=4)
                            | YAMLISH, max_size=4)

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real file, rewritten by every example (module scope: hypothesis re-runs the body)."""
    return tmp_path_factory.mktemp("config_fuzz") / "run.yaml"


def _write(path: Path, text: str) -> Path:
    # surrogatepass writes lone surrogates as bytes that are not UTF-8: the loader must say so.
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def _load_file(path: Path, text: str) -> Config | None:
    """load_config on a real file holding text; None when it is refused with a ConfigError."""
    try:
        return load_config(_write(path, text)).validate()
    except ConfigError as err:
        assert str(err).strip(), "a ConfigError must say what is wrong"
        return None


def _assert_round_trips(cfg: Config, through_yaml: bool = True) -> None:
    """A valid config holds only finite numbers and survives to_dict and a YAML file unchanged."""
    for section in SECTIONS:
        for key, value in dataclasses.asdict(getattr(cfg, section)).items():
            for number in value if isinstance(value, tuple) else (value,):
                if isinstance(number, float):
                    assert math.isfinite(number), f"{section}.{key}={number!r} validated"
    assert config_from_dict(cfg.to_dict()) == cfg
    if not through_yaml:
        return
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict(), allow_unicode=True)))
    assert again == cfg
    again.validate()


def _dump(raw: Any) -> str:
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


@FUZZ
@given(raw=CONFIGISH | YAMLISH)
def test_any_yaml_structure_loads_or_raises_config_error(path: Path, raw: Any) -> None:
    cfg = _load_file(path, _dump(raw))
    if cfg is not None:
        _assert_round_trips(cfg)


@FUZZ
@given(dotted=st.sampled_from(DOTTED), value=VALUES)
def test_one_mutated_field_loads_or_names_that_field(path: Path, dotted: str, value: Any) -> None:
    section, key = dotted.split(".")
    try:
        cfg = load_config(_write(path, _dump({section: {key: value}})))
    except ConfigError as err:
        # The message starts with the field the user changed, even when a cross-field check
        # fails (data.sample_rate=35092 once blamed frontend.n_mels: the regression test below).
        assert str(err).startswith(dotted), f"{dotted}={value!r}: {err}"
        return
    _assert_round_trips(cfg)


@FUZZ
@given(dotted=st.sampled_from(DOTTED),
       text=TRICKY_TEXT | st.text(max_size=20) | VALUES.map(lambda v: yaml.safe_dump(v, default_flow_style=True)))
def test_one_override_loads_or_names_that_field(dotted: str, text: str) -> None:
    try:
        cfg = load_config(None, overrides=[f"{dotted}={text}"])
    except ConfigError as err:
        assert str(err).startswith(dotted), f"{dotted}={text!r}: {err}"
        return
    _assert_round_trips(cfg)


@settings(max_examples=150, deadline=None, database=None)
@given(overrides=st.lists(st.builds(lambda k, v: f"{k}={v}", KEYS | st.sampled_from(DOTTED),
                                    TRICKY_TEXT | st.text(max_size=12))
                          | st.text(max_size=20), max_size=3))
def test_any_overrides_load_or_raise_config_error(overrides: list[str]) -> None:
    try:
        cfg = load_config(None, overrides=overrides)
    except ConfigError as err:
        assert str(err).strip()
        return
    _assert_round_trips(cfg)


@settings(max_examples=150, deadline=None, database=None)
@given(text=st.text(max_size=200) | TRICKY_TEXT
       | st.lists(st.sampled_from(["method:", "  name: byol", "data:", "  batch_size: 32", "- x", "  - 1",
                                   "\t", "augment: {flip_p: 0}", "&a [*a]", "!!binary ZZ", "'"]),
                  max_size=6).map("\n".join))
def test_any_text_file_loads_or_raises_config_error(path: Path, text: str) -> None:
    cfg = _load_file(path, text)
    if cfg is not None:
        _assert_round_trips(cfg)


@settings(max_examples=30, deadline=None, database=None)
@given(data=st.binary(max_size=64))
def test_any_bytes_file_loads_or_raises_config_error(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        cfg = load_config(path)
    except ConfigError as err:
        assert str(err).strip()
        return
    _assert_round_trips(cfg)


EDGES: list[Any] = [None, True, False, 0, 1, -1, 2, 7, 8, 999, 10**6 + 1, 10**19, 10**400, -(10**400), 0.0, 0.5,
                    1.0, 1.5, -0.5, 1e-300, 1e308, math.inf, -math.inf, math.nan, "", " ", "x", "null", "[",
                    "!!bool x", "9" * 5000, [], [0.5], [0.7, 0.15, 0.15], [math.nan] * 3, {}, {"a": "val"},
                    {"a": "x"}, {"a": [1]}]


def test_every_field_with_every_edge_value_loads_or_names_that_field(path: Path) -> None:
    """The exhaustive counterpart of the fuzz: each field alone set to each edge value, in a
    file and as an override (about 5,000 loads, a few seconds)."""
    problems = []
    for dotted in DOTTED:
        section, key = dotted.split(".")
        for value in EDGES:
            text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True)
            _write(path, _dump({section: {key: value}}))
            for how, load in (("file", lambda: load_config(path)), ("--set", lambda: load_config(None, [f"{dotted}={text}"]))):
                try:
                    _assert_round_trips(load(), through_yaml=False)  # YAML costs ms: the fuzz does it
                except ConfigError as err:
                    if not str(err).startswith(dotted):
                        problems.append(f"{how} {dotted}={value!r:.40}: message does not name it: {err}")
                except Exception as err:  # noqa: BLE001 - collected, so that one run lists them all
                    problems.append(f"{how} {dotted}={value!r:.40}: {type(err).__name__}: {err}")
    assert not problems, "\n".join(problems[:40])


# (field set, its value, what the refusal says about the other fields involved). The first was
# found by test_one_mutated_field_loads_or_names_that_field: the mel-band check refused
# data.sample_rate=35092 but blamed frontend.n_mels, a field the user never touched.
CROSS_FIELD = [
    ("data.sample_rate", 35092, "frontend.n_mels=64 is too many for frontend.n_fft=512"),
    ("data.sample_rate", 12000, "with it, frontend.f_max=8000.0 must be at most Nyquist"),
    ("frontend.f_min", 9000.0, "with it, frontend.f_max=8000.0 must be above frontend.f_min=9000.0"),
    ("frontend.n_fft", 64, "must be at most the FFT's n_fft // 2 + 1 = 33 bins"),
    ("frontend.n_mels", 8, "with it, augment.freq_mask_bins=8 must be below frontend.n_mels=8"),
    ("frontend.hop_length", 100000, "gives only 1 spectrogram frames"),
    ("eval.objective", "linear_top1", "only with eval.linear_probe=every"),
]


@pytest.mark.parametrize("dotted, value, names", CROSS_FIELD, ids=[f"{d}={v}" for d, v, _ in CROSS_FIELD])
def test_a_cross_field_refusal_leads_with_the_field_that_was_set(path: Path, dotted: str, value: Any,
                                                                 names: str) -> None:
    section, key = dotted.split(".")
    for load in (lambda: load_config(_write(path, _dump({section: {key: value}}))),
                 lambda: load_config(None, [f"{dotted}={value}"])):
        with pytest.raises(ConfigError) as refused:
            load()
        assert str(refused.value).startswith(f"{dotted}={value!r} is invalid: "), str(refused.value)
        assert names in str(refused.value)
