"""Each method declares and checks its own ``method.*`` fields; the config's keys stay flat.

``TODAY`` is the ``method:`` section of ``Config().to_dict()`` as it was when the fields still
lived in ``ssl_core/config.py``: checkpoints' config files and search spaces use these keys.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from ssl_core.config import Config, ConfigError, MethodConfig, config_from_dict, load_config, set_value
from ssl_core.methods import METHOD_OPTIONS, METHODS
from ssl_core.methods.options import SharedOptions, section_bases

REPO = Path(__file__).resolve().parents[1]

TODAY = {
    "name": "simclr",
    "temperature": 0.2,
    "momentum_base": 0.99,
    "momentum_final": 1.0,
    "queue_size": 4096,
    "dino_out_dim": 1024,
    "dino_student_temp": 0.1,
    "dino_teacher_temp": 0.04,
    "dino_warmup_teacher_temp": 0.04,
    "dino_warmup_teacher_epochs": 0.0,
    "dino_center_momentum": 0.9,
    "barlow_lambda": 0.005,
    "vicreg_sim_weight": 25.0,
    "vicreg_var_weight": 25.0,
    "vicreg_cov_weight": 1.0,
    "stop_gradient": True,
}


def test_method_section_keeps_its_keys_defaults_and_order() -> None:
    section = Config().to_dict()["method"]
    assert section == TODAY
    assert list(section) == list(TODAY)  # config files and the "valid keys" list read the same
    assert all(type(section[k]) is type(v) for k, v in TODAY.items())


def test_every_declared_field_is_a_method_key_with_its_default() -> None:
    section = Config().to_dict()["method"]
    declared = [f for options in METHOD_OPTIONS for f in dataclasses.fields(options)]
    assert sorted(f.name for f in declared) == sorted(section)
    for f in declared:
        assert section[f.name] == f.default, f.name


def test_each_method_options_are_registered() -> None:
    """A method's ``options`` must be in METHOD_OPTIONS, or its fields would not be config keys."""
    owned = {name: cls.options for name, cls in METHODS.items() if cls.options is not None}
    assert set(owned) == {"moco", "dino", "barlow", "vicreg", "simsiam"}
    assert set(owned.values()) | {SharedOptions} == set(METHOD_OPTIONS)
    assert isinstance(MethodConfig(), tuple(METHOD_OPTIONS))


def test_method_keys_coerce_by_their_declared_type() -> None:
    cfg = config_from_dict({"method": {"dino_out_dim": "256", "barlow_lambda": 1, "stop_gradient": "false"}})
    assert cfg.method.dino_out_dim == 256 and type(cfg.method.dino_out_dim) is int
    assert cfg.method.barlow_lambda == 1.0 and type(cfg.method.barlow_lambda) is float
    assert cfg.method.stop_gradient is False
    set_value(cfg, "method.queue_size", "128")
    assert cfg.method.queue_size == 128
    with pytest.raises(ConfigError, match=r"method\.dino_out_dim: expected an integer"):
        set_value(cfg, "method.dino_out_dim", "many")
    assert MethodConfig(dino_out_dim=64).dino_out_dim == 64


@pytest.mark.parametrize("override, message", [
    ("method.dino_center_momentum=1.0", r"^method\.dino_center_momentum=1\.0 is invalid: must be in \[0, 1\)"),
    ("method.dino_center_momentum=-0.1", r"^method\.dino_center_momentum=-0\.1 is invalid"),
    ("method.barlow_lambda=-1", r"^method\.barlow_lambda=-1\.0 is invalid: must be a finite number >= 0"),
    ("method.dino_out_dim=1", r"^method\.dino_out_dim=1 is invalid: must be an integer >= 2"),
    ("method.dino_teacher_temp=0", r"^method\.dino_teacher_temp=0\.0 is invalid: must be a finite number > 0"),
    ("method.dino_warmup_teacher_epochs=-1", r"^method\.dino_warmup_teacher_epochs=-1\.0 is invalid"),
    ("method.vicreg_cov_weight=inf", r"^method\.vicreg_cov_weight=inf is invalid: must be a finite number >= 0"),
    ("method.vicreg_var_weight=nan", r"^method\.vicreg_var_weight=nan is invalid"),
    ("method.queue_size=-64", r"^method\.queue_size=-64 is invalid: must be an integer >= 0"),
    ("method.momentum_base=1.5", r"^method\.momentum_base=1\.5 is invalid: must be in \[0, 1\]"),
    ("method.momentum_final=nan", r"^method\.momentum_final=nan is invalid: must be in \[0, 1\]"),
])
def test_bad_method_field_is_refused_by_name(override: str, message: str) -> None:
    # Any method: every declared field is checked whichever method runs, as before.
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_moco_queue_must_fill_in_whole_batches() -> None:
    with pytest.raises(ConfigError, match=r"^method\.queue_size=100 is invalid: must be a multiple of "
                                          r"data\.batch_size=64 so the queue fills in whole batches"):
        load_config(None, ["method.name=moco", "method.queue_size=100", "data.batch_size=64"])
    load_config(None, ["method.name=moco", "method.queue_size=128", "data.batch_size=64"])
    load_config(None, ["method.name=simclr", "method.queue_size=100", "data.batch_size=64"])  # no queue


def test_unknown_method_key_lists_shared_and_method_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'method\.foo'; valid keys in 'method': "
                                          r"name, temperature, .*queue_size, dino_out_dim, .*stop_gradient"):
        config_from_dict({"method": {"foo": 1}})


def test_two_methods_cannot_declare_one_field() -> None:
    @dataclasses.dataclass
    class Clash:
        temperature: float = 1.0

        def problems(self, cfg):
            return iter(())

    with pytest.raises(TypeError, match="'temperature' is declared by both SharedOptions and Clash"):
        section_bases((SharedOptions, Clash))


def test_config_import_does_not_import_torch() -> None:
    """Method fields are torch-free modules, so launch.py's refusals stay quick."""
    code = ("import sys, ssl_core.config as c; c.Config(); "
            "assert not {'torch', 'timm'} & set(sys.modules), sorted(m for m in sys.modules if 'torch' in m)[:5]")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_problems_are_yielded_not_raised() -> None:
    """Option classes name bad values without importing ConfigError (no import of the config)."""
    cfg = Config()
    cfg.method.barlow_lambda = -1.0
    cfg.method.dino_out_dim = 0
    assert [p[0] for p in cfg.method.problems(cfg)] == ["dino_out_dim", "barlow_lambda"]
    assert list(Config().method.problems(Config())) == []
