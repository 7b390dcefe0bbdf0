"""Config: defaults validate, overrides coerce, unknown keys and bad ranges are refused by name."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchaudio
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


# Regressions found by tests/test_config_fuzz.py: each raised a bare Python error or validated.
@pytest.mark.parametrize("text, message", [
    ("method: [\n", r"is not valid YAML \(ParserError"),  # a yaml.YAMLError leaked before
    ("---\n---\n", r"is not valid YAML \(ComposerError"),
    ("data:\n  split_seed: !!bool x\n", r"is not valid YAML \(KeyError"),  # PyYAML's own bugs
    ("data:\n  dataset: !!timestamp x\n", r"is not valid YAML \(AttributeError"),
    ("data:\n  split_seed: 2020-13-45\n", r"is not valid YAML \(ValueError: month must be in 1..12"),
    ("data:\n  split_seed: " + "9" * 5000 + "\n", r"is not valid YAML \(ValueError: Exceeds the limit"),
    ("[" * 3000 + "]" * 3000, r"is not valid YAML \(RecursionError"),
])
def test_malformed_yaml_file_is_a_config_error(tmp_path, text, message) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"config file {path} {message}"):
        load_config(path)


def test_non_utf8_file_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_bytes(b"method:\n  name: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text .*save it as UTF-8"):
        load_config(path)


@pytest.mark.parametrize("override, message", [
    # Text YAML cannot read stays text and is refused by type, naming the field.
    ("method.temperature=[", r"method.temperature: expected a number, got '\['"),
    ("augment.blur_p=!!bool x", r"augment.blur_p: expected a number, got '!!bool x'"),
    ("data.split_fractions=[0.7, 0.15", r"data.split_fractions: expected a list of 3 numbers"),
    ("data.split_seed=" + "9" * 5000, r"data.split_seed: expected an integer"),
    # Ints past float range raised OverflowError in float() and in the Nyquist check.
    ("method.temperature=1" + "0" * 400, r"method.temperature: an integer of about 401 digits is too large"),
    ("data.sample_rate=1" + "0" * 400, r"data.sample_rate=1000+ is invalid: must be an integer in \[1000, 1000000\]"),
    # An infinite aspect ratio validated before.
    ("augment.crop_ratio_max=.inf", r"augment.crop_ratio_max=inf is invalid: must be a finite number >= 1"),
    # A whitespace dataset name validated before.
    ("data.dataset= ", r"data.dataset=' ?' is invalid: name an embedded dataset"),  # --set strips the value
])
def test_edge_values_are_config_errors_naming_the_field(override, message) -> None:
    key, value = override.split("=", 1)
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])
    with pytest.raises(ConfigError, match=message):  # the same value written in a file
        config_from_dict({key.split(".")[0]: {key.split(".")[1]: value}}).validate()


def test_too_few_frames_names_hop_length_and_sample_rate() -> None:
    # Before, a huge frontend.hop_length was blamed on data.crop_seconds alone; the field set leads.
    with pytest.raises(ConfigError, match=r"frontend.hop_length=100000 is invalid: data.crop_seconds=2.0 with "
                                          r"data.sample_rate=16000 and frontend.hop_length=100000 gives only 1 "
                                          r"spectrogram frames"):
        load_config(None, ["frontend.hop_length=100000"])


@pytest.mark.parametrize("n_fft", [1024, 3198, 3200, 3202, 4096])
def test_n_fft_against_the_crop_is_refused_exactly_when_torch_stft_refuses_it(n_fft) -> None:
    # 0.1 s at 16 kHz = 1600 samples; torch.stft's centred frames are the reference.
    overrides = [f"frontend.n_fft={n_fft}", "data.crop_seconds=0.1", "data.sample_rate=16000"]
    try:
        torch.stft(torch.zeros(1, 1600), n_fft, hop_length=160, window=torch.hann_window(n_fft), center=True,
                   return_complex=True)
        stft_error = None
    except RuntimeError as err:
        stft_error = err
    if stft_error is None:
        assert load_config(None, overrides).frontend.n_fft == n_fft
    else:
        with pytest.raises(ConfigError, match=rf"frontend.n_fft={n_fft} is invalid: the centred STFT needs a crop "
                                              rf"longer than n_fft // 2 = {n_fft // 2} samples, but "
                                              r"data.crop_seconds=0.1 at data.sample_rate=16000 gives 1600; "
                                              r"lower frontend.n_fft or lengthen data.crop_seconds"):
            load_config(None, overrides)


@pytest.mark.parametrize("n_mels, n_fft", [(64, 512), (128, 512), (128, 256), (64, 128), (32, 64), (16, 64)])
def test_mel_bands_without_fft_bins_are_refused_at_config_time(n_mels, n_fft) -> None:
    # torchaudio's own MelSpectrogram, as the front end builds it, is the reference.
    cfg = Config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        bank = torchaudio.transforms.MelSpectrogram(sample_rate=cfg.data.sample_rate, n_fft=n_fft, n_mels=n_mels,
                                                    f_min=cfg.frontend.f_min, f_max=cfg.frontend.f_max).mel_scale.fb
    empty = int((bank.amax(dim=0) == 0).sum())
    overrides = [f"frontend.n_fft={n_fft}", f"frontend.n_mels={n_mels}"]
    if empty == 0:
        assert load_config(None, overrides).frontend.n_mels == n_mels
    else:
        # The refusal leads with the field the user set: n_fft when n_mels keeps its default (64).
        blamed = f"frontend.n_mels={n_mels}" if n_mels != cfg.frontend.n_mels else f"frontend.n_fft={n_fft}"
        with pytest.raises(ConfigError, match=rf"{blamed} is invalid: .* {empty} of the mel bands "
                                              r"\(from band \d+\) contain no FFT bin; raise n_fft, lower n_mels"):
            load_config(None, overrides)


@pytest.mark.parametrize("n_mels, n_fft", [(200, 256), (96, 128), (1024, 512)])
def test_more_mel_bands_than_fft_bins_is_refused_before_building_a_filter_bank(n_mels, n_fft) -> None:
    with pytest.raises(ConfigError, match=rf"frontend.n_mels={n_mels} is invalid: must be at most the FFT's "
                                          rf"n_fft // 2 \+ 1 = {n_fft // 2 + 1} bins"):
        load_config(None, [f"frontend.n_fft={n_fft}", f"frontend.n_mels={n_mels}"])


@pytest.mark.parametrize("text", ["null", "~", "", "NULL"])
def test_null_override_unsets_an_optional_text_field(text) -> None:
    # Before, --set data.cache_dir=null set a cache directory named "null".
    cfg = load_config(None, [f"data.cache_dir={text}", f"data.manifest={text}"])
    assert cfg.data.cache_dir is None and cfg.data.manifest is None
    assert load_config(None, ["data.cache_dir=/tmp/null"]).data.cache_dir == "/tmp/null"


def test_a_cross_field_refusal_names_the_field_that_was_set() -> None:
    # Found by the config fuzz test: at 35092 Hz the default 64 mel bands leave bands without
    # an FFT bin; the refusal blamed only frontend.n_mels, which the user had not touched.
    with pytest.raises(ConfigError, match="data.sample_rate=35092") as err:
        load_config(None, ["data.sample_rate=35092"])
    assert "frontend.n_mels" in str(err.value) and "change the sample rate" in str(err.value)
