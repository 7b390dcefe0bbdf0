"""Range checks for a Config: each failure names the field, the value and what is allowed.

Kept apart from ``config.py`` so that the dataclasses read as a table of defaults.
Checks that need the dataset (batch size vs. split size, classes per split) live with
the data code; checks here need nothing but the config (and timm's model list).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from ssl_core.config_errors import ConfigError
from ssl_core.config_limits import (MAX_SEED, check_device, check_dims, check_folder_setting, check_memory,
                                    integer_at_most, max_num_workers)

# A config is read here by attribute. ssl_core.config is not imported, not even for type
# checking: Config.validate imports this module, so that import would close a cycle.
Config = Any


MAX_SAMPLE_RATE = 1_000_000
MAX_MELS = 1024
MAX_N_FFT = 16384


def _fail(field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{field}={value!r} is invalid: {allowed}")


def _positive(field: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        _fail(field, value, "must be a finite number > 0")


def _non_negative(field: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        _fail(field, value, "must be a finite number >= 0")


def _probability(field: str, value: float) -> None:
    if not (0.0 <= value <= 1.0):
        _fail(field, value, "must be a probability in [0, 1]")


def _at_least(field: str, value: int, low: int) -> None:
    if value < low:
        _fail(field, value, f"must be an integer >= {low}")


def _integer_in(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        _fail(field, value, f"must be an integer in [{low}, {high}]")


def _value_of(cfg: "Config", field: str) -> Any:
    section, key = field.split(".")
    return getattr(getattr(cfg, section), key)


def _default_of(cfg: "Config", field: str) -> Any:
    # Each section's dataclass built anew holds the defaults; ssl_core.config is not imported (see Config).
    section, key = field.split(".")
    return getattr(type(getattr(cfg, section))(), key)


def culprit(cfg: "Config", *fields: str) -> str:
    """Of the fields a cross-field check involves, the one to blame: the first that differs from
    its default, i.e. the one the user (or a space's base) set; the first field when none does.

    ``data.sample_rate=35092`` alone breaks the mel filter bank of the default n_mels and n_fft:
    the refusal must start with ``data.sample_rate``, not with a field the user never touched.
    """
    for field in fields:
        if _value_of(cfg, field) != _default_of(cfg, field):
            return field
    return fields[0]


def fail_across(cfg: "Config", fields: tuple[str, ...], allowed: str, sentence: bool = False) -> None:
    """Refuse a combination of fields, naming first the one the user set (:func:`culprit`).

    ``allowed`` says what ``fields[0]`` must be ("must be at most ..."); when another field is
    blamed it reads "with it, <fields[0]>=<value> must be ...". ``sentence``: ``allowed`` is a
    whole sentence that names its fields itself.
    """
    field = culprit(cfg, *fields)
    if field != fields[0] and not sentence:
        allowed = f"with it, {fields[0]}={_value_of(cfg, fields[0])!r} {allowed}"
    _fail(field, _value_of(cfg, field), allowed)


def _seed(field: str, value: int) -> None:
    # numpy's seeded generators refuse negative seeds: every trial would fail in its split or
    # sampler (after Ray started). Trial seeds add the trial number, hence the margin below 2**32.
    if not 0 <= value <= MAX_SEED:
        _fail(field, value, f"a seed must be an integer in [0, {MAX_SEED}]; use 0 or another non-negative seed")


def _one_of(field: str, value: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        _fail(field, value, f"must be one of {', '.join(allowed)}")


def _check_data(cfg: "Config") -> None:
    d = cfg.data
    if not d.dataset.strip():
        _fail("data.dataset", d.dataset, "name an embedded dataset (birdsong, digits) or a directory")
    if len(d.split_fractions) != 3 or any(not (0 < f < 1) for f in d.split_fractions):
        _fail("data.split_fractions", d.split_fractions, "three fractions in (0, 1) for train, val, test")
    if abs(sum(d.split_fractions) - 1.0) > 1e-6:
        _fail("data.split_fractions", d.split_fractions, "must sum to 1")
    if d.fold_map is not None:
        bad = sorted(set(d.fold_map.values()) - {"train", "val", "test"})
        if bad:
            _fail("data.fold_map", d.fold_map, "values must be train, val or test")
    # Bounded above so that the frame arithmetic below stays in float range (ultrasonic
    # recorders for bats sample at 500 kHz; nothing real needs more than 1 MHz).
    if not 1000 <= d.sample_rate <= MAX_SAMPLE_RATE:
        _fail("data.sample_rate", d.sample_rate, f"must be an integer in [1000, {MAX_SAMPLE_RATE}] Hz")
    _seed("data.split_seed", d.split_seed)
    if not (isinstance(d.label_fraction, (int, float)) and 0 < d.label_fraction <= 1):
        _fail("data.label_fraction", d.label_fraction, "must be in (0, 1]: the share of the train split's "
              "labelled recordings kept (0.01 = 1 %; 1 keeps them all)")
    _positive("data.crop_seconds", d.crop_seconds)
    _at_least("data.crops_per_item", d.crops_per_item, 1)
    _at_least("data.windows_per_epoch", d.windows_per_epoch, 1)
    _at_least("data.image_size", d.image_size, 8)
    _at_least("data.batch_size", d.batch_size, 2)
    _at_least("data.num_workers", d.num_workers, 0)
    integer_at_most("data.num_workers", d.num_workers, max_num_workers(),
                    "more loader processes than that cannot all be busy on this machine; lower data.num_workers")
    check_folder_setting("data.cache_dir", d.cache_dir)
    if d.decode_cache not in ("auto", "off"):
        check_folder_setting("data.decode_cache", d.decode_cache, other=" (or auto, or off)")
    from ssl_core.data.catalog import FORMATS

    _one_of("data.format", d.format, FORMATS)
    _one_of("data.window_weighting", d.window_weighting, ("uniform", "energy"))
    _one_of("data.eval_windows", d.eval_windows, ("centre", "mean"))
    _one_of("data.placement", d.placement, ("auto", "device", "loader"))
    if not (isinstance(d.device_data_gb, (int, float)) and 0 <= d.device_data_gb < float("inf")):
        _fail("data.device_data_gb", d.device_data_gb,
              "must be a number of GB >= 0 (0 keeps the train split in loader processes, like data.placement=loader)")


def _check_frontend(cfg: "Config") -> None:
    f = cfg.frontend
    # Upper bounds far past any real front end (a 16384-sample window is 1 s at 16 kHz) keep
    # the filter-bank check below small: at most 8193 FFT bins x 1024 bands.
    _integer_in("frontend.n_mels", f.n_mels, 8, MAX_MELS)
    _integer_in("frontend.n_fft", f.n_fft, 16, MAX_N_FFT)
    _at_least("frontend.hop_length", f.hop_length, 1)
    _non_negative("frontend.f_min", f.f_min)
    sample_rate = cfg.data.sample_rate
    if not f.f_max > f.f_min:
        fail_across(cfg, ("frontend.f_max", "frontend.f_min"),
                    f"must be above frontend.f_min={f.f_min}")
    if f.f_max > sample_rate / 2:
        fail_across(cfg, ("frontend.f_max", "data.sample_rate"),
                    f"must be at most Nyquist, data.sample_rate/2 = {sample_rate / 2}; "
                    "lower frontend.f_max or raise data.sample_rate")
    from ssl_core.frontends import NORMALIZE_MODES

    _one_of("frontend.normalize", f.normalize, NORMALIZE_MODES)
    crop = ("data.crop_seconds", "data.sample_rate")
    if cfg.data.crop_seconds * sample_rate > 3600 * 192_000:
        fail_across(cfg, crop, f"data.crop_seconds={cfg.data.crop_seconds} times data.sample_rate={sample_rate} "
                    "must stay below an hour of audio at 192 kHz; shorten the crop", sentence=True)
    frames = int(cfg.data.crop_seconds * sample_rate) // f.hop_length + 1
    if frames < 8:
        fail_across(cfg, (*crop, "frontend.hop_length"),
                    f"data.crop_seconds={cfg.data.crop_seconds} with data.sample_rate={sample_rate} and "
                    f"frontend.hop_length={f.hop_length} gives only {frames} spectrogram frames; use at least 8 "
                    "(a longer crop or a smaller hop length)", sentence=True)
    samples = int(cfg.data.crop_seconds * sample_rate)
    if samples <= f.n_fft // 2:
        # torch.stft's centred frames pad n_fft // 2 samples by reflection, which needs more
        # samples than that; caught here, it would fail the first training step of every trial.
        fail_across(cfg, ("frontend.n_fft", *crop),
                    f"the centred STFT needs a crop longer than n_fft // 2 = {f.n_fft // 2} samples, but "
                    f"data.crop_seconds={cfg.data.crop_seconds} at "
                    f"data.sample_rate={sample_rate} gives {samples}; lower frontend.n_fft or lengthen "
                    "data.crop_seconds", sentence=True)
    from ssl_core.frontends import empty_mel_bands, empty_mel_bands_message

    if f.n_mels > f.n_fft // 2 + 1:
        fail_across(cfg, ("frontend.n_mels", "frontend.n_fft"),
                    f"must be at most the FFT's n_fft // 2 + 1 = {f.n_fft // 2 + 1} "
                    f"bins (frontend.n_fft={f.n_fft}); raise n_fft or lower n_mels")
    empty = empty_mel_bands(f, sample_rate)
    if empty:
        fail_across(cfg, ("frontend.n_mels", "frontend.n_fft", "data.sample_rate", "frontend.f_min",
                          "frontend.f_max"), empty_mel_bands_message(f, empty, sample_rate), sentence=True)


def _check_augment(cfg: "Config") -> None:
    a = cfg.augment
    for name in ("gain_p", "noise_p", "mix_p", "pitch_shift_p", "time_mask_p", "freq_mask_p",
                 "time_stretch_p", "spec_crop_p", "fader_p", "filter_p",
                 "flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
        _probability(f"augment.{name}", getattr(a, name))
    if not 0 <= a.time_stretch_max < 1:
        _fail("augment.time_stretch_max", a.time_stretch_max, "must be in [0, 1)")
    if not 0 < a.spec_crop_scale_min <= 1:
        _fail("augment.spec_crop_scale_min", a.spec_crop_scale_min, "must be in (0, 1]")
    _non_negative("augment.fader_db", a.fader_db)
    _non_negative("augment.filter_db", a.filter_db)
    if not (math.isfinite(a.crop_ratio_max) and a.crop_ratio_max >= 1):
        _fail("augment.crop_ratio_max", a.crop_ratio_max, "must be a finite number >= 1")
    if not 0.1 <= a.blur_sigma_max <= 10:
        _fail("augment.blur_sigma_max", a.blur_sigma_max, "must be in [0.1, 10]")
    _non_negative("augment.gain_db", a.gain_db)
    if not math.isfinite(a.noise_snr_db):
        _fail("augment.noise_snr_db", a.noise_snr_db, "must be a finite number of dB")
    if not 0 <= a.mix_ratio < 1:
        _fail("augment.mix_ratio", a.mix_ratio, "must be in [0, 1)")
    _at_least("augment.pitch_shift_bins", a.pitch_shift_bins, 0)
    _at_least("augment.time_mask_frames", a.time_mask_frames, 0)
    _at_least("augment.freq_mask_bins", a.freq_mask_bins, 0)
    if a.freq_mask_bins >= cfg.frontend.n_mels:
        fail_across(cfg, ("augment.freq_mask_bins", "frontend.n_mels"),
                    f"must be below frontend.n_mels={cfg.frontend.n_mels}")
    if not 0 < a.crop_scale_min <= 1:
        _fail("augment.crop_scale_min", a.crop_scale_min, "must be in (0, 1]")
    if not 0 <= a.jitter_strength <= 1:
        _fail("augment.jitter_strength", a.jitter_strength, "must be in [0, 1]")
    _at_least("augment.num_local_crops", a.num_local_crops, 0)
    if not 0 < a.local_crop_fraction <= 1:
        _fail("augment.local_crop_fraction", a.local_crop_fraction, "must be in (0, 1]")


def _check_model(cfg: "Config") -> None:
    import timm

    from ssl_core.models.backbones import GLOBAL_POOLS

    m = cfg.model
    if not timm.is_model(m.backbone):
        stem = m.backbone.split("_")[0]
        # An empty stem (or "*") would list the first ten of all models: no hint then.
        close = timm.list_models(f"*{stem}*")[:10] if stem.strip("*?[] ") else []
        hint = f"; similar names: {', '.join(close)}" if close else ""
        _fail("model.backbone", m.backbone, f"must be a timm model name (timm.list_models()){hint}")
    _at_least("model.proj_hidden_dim", m.proj_hidden_dim, 1)
    _at_least("model.proj_layers", m.proj_layers, 1)
    _at_least("model.embedding_dim", m.embedding_dim, 1)
    _at_least("model.pred_hidden_dim", m.pred_hidden_dim, 1)
    _one_of("model.proj_output_bn", m.proj_output_bn, ("auto", "on", "off"))
    _one_of("model.global_pool", m.global_pool, GLOBAL_POOLS)
    if m.init_backbone and not m.init_backbone.strip():
        _fail("model.init_backbone", m.init_backbone, "name a backbone file written by the search "
              "(<experiment>/best_backbone.pth), or leave it empty for a random start")


def _check_method(cfg: "Config") -> None:
    """The name against the registry; every other field by the method that declares it."""
    from ssl_core.methods import METHODS

    m = cfg.method
    if m.name not in METHODS:
        _fail("method.name", m.name, f"must be one of {', '.join(sorted(METHODS))}")
    # ``problems`` yields (field, value, allowed) in the shared-then-per-method order of
    # ssl_core.methods.METHOD_OPTIONS; the first is refused in the message every check gives.
    for name, value, allowed in m.problems(cfg):
        _fail(f"method.{name}", value, allowed)


def _check_optim(cfg: "Config") -> None:
    o = cfg.optim
    _one_of("optim.name", o.name, ("sgd", "lars", "adamw"))
    _positive("optim.lr", o.lr)
    _non_negative("optim.weight_decay", o.weight_decay)
    if not 0 <= o.momentum < 1:
        _fail("optim.momentum", o.momentum, "must be in [0, 1)")
    _non_negative("optim.warmup_epochs", o.warmup_epochs)
    if o.warmup_epochs > cfg.train.epochs:
        fail_across(cfg, ("optim.warmup_epochs", "train.epochs"),
                    f"must not exceed train.epochs={cfg.train.epochs}")
    if not 0 <= o.min_lr_ratio <= 1:
        _fail("optim.min_lr_ratio", o.min_lr_ratio, "must be in [0, 1]")
    _non_negative("optim.grad_clip", o.grad_clip)


def _check_eval(cfg: "Config") -> None:
    from ssl_core.objective import BETTER, CLUSTERING_METRICS, METRICS, MODES

    e = cfg.eval
    _at_least("eval.every_epochs", e.every_epochs, 1)
    _at_least("eval.knn_k", e.knn_k, 1)
    _positive("eval.knn_temperature", e.knn_temperature)
    _one_of("eval.features", e.features, ("backbone", "projector"))
    _one_of("eval.linear_probe", e.linear_probe, ("final", "every", "never"))
    _one_of("eval.queries", e.queries, ("val", "train+val"))
    if not isinstance(e.shortcut_windows, int) or not 0 <= e.shortcut_windows <= 16:
        _fail("eval.shortcut_windows", e.shortcut_windows, "must be an integer in [0, 16] (disjoint windows per "
              "val recording for the shortcut probe; 0 turns it off)")
    _one_of("eval.objective", e.objective, METRICS)
    _one_of("eval.objective_mode", e.objective_mode, MODES)
    if e.objective in BETTER and BETTER[e.objective] != e.objective_mode:
        fail_across(cfg, ("eval.objective_mode", "eval.objective"), f"eval.objective={e.objective} is better when "
                    f"{'higher' if BETTER[e.objective] == 'max' else 'lower'}: use eval.objective_mode="
                    f"{BETTER[e.objective]}", sentence=True)
    # The objective must be in every evaluation's report, or the best checkpoint, ASHA and the
    # searcher never see it (a search space's objective.metric becomes eval.objective).
    if e.objective == "linear_top1" and e.linear_probe != "every":
        fail_across(cfg, ("eval.linear_probe", "eval.objective"), "eval.objective=linear_top1 (objective.metric) "
                    "is reported at every evaluation only with eval.linear_probe=every; set it in base", sentence=True)
    if e.objective in CLUSTERING_METRICS and not e.clustering:
        fail_across(cfg, ("eval.clustering", "eval.objective"), f"eval.objective={e.objective} "
                    "(objective.metric) needs eval.clustering=true", sentence=True)
    if e.objective == "rankme" and e.features != "backbone":
        fail_across(cfg, ("eval.features", "eval.objective"), "eval.objective=rankme (objective.metric) is "
                    "measured on the backbone representation, as RankMe's paper does; set eval.features=backbone",
                    sentence=True)
    if e.objective == "align" and not e.views_for_align:
        fail_across(cfg, ("eval.views_for_align", "eval.objective"), "eval.objective=align (objective.metric) "
                    "needs eval.views_for_align=true", sentence=True)


def _check_train(cfg: "Config") -> None:
    t = cfg.train
    _at_least("train.epochs", t.epochs, 1)
    _seed("train.seed", t.seed)
    check_device("train.device", t.device)
    if not t.output_dir.strip():
        _fail("train.output_dir", t.output_dir, "name a folder for checkpoints and TensorBoard events "
              "(e.g. runs/my_run); an empty path would write into the current folder")
    check_folder_setting("train.output_dir", t.output_dir)
    _one_of("train.precision", t.precision, ("auto", "bf16", "fp32"))
    _one_of("train.channels_last", t.channels_last, ("auto", "on", "off"))
    _at_least("train.keep_checkpoints", t.keep_checkpoints, 1)
    _one_of("train.progress", t.progress, ("auto", "on", "off"))
    _at_least("train.max_steps_per_epoch", t.max_steps_per_epoch, 0)
    _non_negative("train.memory_limit_gb", t.memory_limit_gb)


def check_config(cfg: "Config") -> None:
    """Raise ConfigError for the first out-of-range field of cfg."""
    for check in (_check_data, _check_frontend, _check_augment, _check_model, _check_method,
                  _check_optim, _check_eval, _check_train):
        check(cfg)
    # Last: upper bounds of every integer field, and what one batch costs in memory.
    check_dims(cfg)
    check_memory(cfg, fail_across)
