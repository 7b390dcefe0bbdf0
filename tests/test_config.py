"""Config: defaults validate, overrides coerce, unknown keys and bad ranges are refused by name."""

from __future__ import annotations

import pytest
import yaml

from ssl_core.config import Config, ConfigError, config_from_dict, load_config, parse_override


def test_defaults_validate() -> None:
    Config().validate()


def test_yaml_file_and_overrides(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"method": {"name": "byol"}, "data": {"batch_size": 32}}))
    cfg = load_config(path, ["method.temperature=0.5", "optim.name=sgd", "data.split_fractions=[0.8, 0.1, 0.1]"])
    assert cfg.method.name == "byol" and cfg.data.batch_size == 32
    assert cfg.method.temperature == 0.5 and isinstance(cfg.method.temperature, float)
    assert cfg.optim.name == "sgd"
    assert cfg.data.split_fractions == (0.8, 0.1, 0.1)


def test_round_trip_through_yaml() -> None:
    cfg = load_config(None, ["method.name=dino", "augment.num_local_crops=4"])
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    assert again == cfg


@pytest.mark.parametrize("raw, message", [
    ({"methd": {"name": "simclr"}}, "unknown config section 'methd'"),
    ({"method": {"temprature": 0.1}}, "unknown config key 'method.temprature'.*temperature"),
    ({"data": {"batch_size": "big"}}, "data.batch_size: expected an integer"),
    ({"train": {"epochs": 2.5}}, "train.epochs: expected an integer"),
    ({"eval": {"clustering": "maybe"}}, "eval.clustering: expected true or false"),
])
def test_unknown_keys_and_bad_types(raw, message) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


@pytest.mark.parametrize("override, message", [
    ("method.temperature=0", r"method.temperature=0.0 is invalid: must be a finite number > 0"),
    ("method.temperature=-1", r"method.temperature=-1.0 is invalid"),
    ("model.embedding_dim=0", r"model.embedding_dim=0 is invalid: must be an integer >= 1"),
    ("method.name=simclrr", r"method.name='simclrr' is invalid: must be one of .*simclr"),
    ("model.backbone=resnet_nonexistent", r"model.backbone='resnet_nonexistent' is invalid: must be a timm"),
    ("augment.noise_p=1.5", r"augment.noise_p=1.5 is invalid: must be a probability"),
    ("data.split_fractions=[0.5, 0.2, 0.2]", r"must sum to 1"),
    ("frontend.f_max=9000", r"frontend.f_max=9000.0 is invalid: must be at most Nyquist"),
    ("optim.name=rmsprop", r"optim.name='rmsprop' is invalid: must be one of sgd, lars, adamw"),
    ("optim.warmup_epochs=50", r"must not exceed train.epochs"),
    ("eval.features=logits", r"eval.features='logits' is invalid"),
    ("data.batch_size=1", r"data.batch_size=1 is invalid"),
])
def test_range_errors_name_field_and_fix(override, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_override_syntax() -> None:
    assert parse_override("method.temperature=0.1") == ("method.temperature", "0.1")
    cfg = load_config(None, ["train.progress=off", "method.temperature=1e-1", "eval.clustering=false"])
    assert cfg.train.progress == "off" and cfg.method.temperature == 0.1 and cfg.eval.clustering is False
    with pytest.raises(ConfigError, match="section.field=value"):
        parse_override("temperature")
    with pytest.raises(ConfigError, match="section.field"):
        load_config(None, ["temperature=0.1"])
