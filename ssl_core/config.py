"""Typed, validated configuration for one training run.

Every default sits on one line with its reason (nanoGPT style). A config file or a
``--set key=value`` override changes only what differs; unknown keys are rejected
with the list of valid ones, and every value is range-checked in ``validate()`` with a
message that names the field, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping


from ssl_core.config_errors import ConfigError  # noqa: F401 - re-exported: callers catch it from here
from ssl_core.safe_yaml import YamlError, load_yaml
from ssl_core.config_values import (NULL_TEXT, coerce_value, is_optional, is_string_field, parse_text,
                                    section_types)
# Torch-free: each method's own fields (ssl_core.methods.options says how they are declared).
from ssl_core.methods import METHOD_OPTIONS
from ssl_core.methods.options import Problem, section_bases


# Contents of configs that passed validate() in this process (see Config.validate).
_VALIDATED: set[str] = set()
MAX_REMEMBERED_CONFIGS = 1024


@dataclass
class DataConfig:
    dataset: str = "birdsong"  # an embedded dataset name ("birdsong", "digits") or a directory
    cache_dir: str | None = None  # where embedded data is generated; None: $SSL_SEARCH_CACHE or ~/.cache/ssl-search
    split_seed: int = 0  # splits are by recording, stratified, and fixed by this seed
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train / val / test recordings
    fold_map: dict[str, str] | None = None  # CSV fold value -> split ("train"/"val"/"test"); overrides fractions
    sample_rate: int = 16000  # audio is resampled to this; 16 kHz keeps birds (1-8 kHz) and is cheap
    # Waveform crop per view; several syllables of a song fit in 2 s. BYOL-A's 0.95 s lost val kNN -8.0
    # (95 % CI -11.2..-4.8) at the default search's budget (docs/recipes.md).
    crop_seconds: float = 2.0
    crops_per_item: int = 2  # distinct waveform crops per recording; 1 = both views from one crop (BYOL-A)
    image_size: int = 32  # images are cropped/resized to this on the device
    batch_size: int = 64  # GLOBAL batch (all workers); contrastive negatives come from it
    num_workers: int = 2  # CPU loader processes per training worker; 0 loads in the main process
    cache_decoded: bool = True  # keep decoded audio in loader memory so OGG is decoded once per process
    format: str = "auto"  # "auto" (detect), "birdclef", "audio_folder", "image_folder", "audio_csv", "image_csv"
    manifest: str | None = None  # CSV manifest (path,label[,fold]) for *_csv formats; None: the format's default name
    allow_outside_root: bool = False  # files (CSV paths, symlink targets) outside the dataset folder are refused unless true
    # A CSV column (BirdCLEF's author, a site, a speaker) whose values each stay in one split, so
    # test scores never rest on a recordist or site seen in training; "": split by recording only.
    group_column: str = ""
    # Share of the train split's labelled recordings kept (stratified per class, seeded by
    # split_seed, >= 1 per class; the others leave the train split): fine-tuning with few labels.
    label_fraction: float = 1.0
    decode_cache: str = "auto"  # decoded-audio cache: "auto" (under the data cache), "off", or a directory
    window_weighting: str = "uniform"  # training windows of long recordings: "uniform" or "energy" (fewer silent windows)
    # Visits of each training recording per epoch, each with its own random window: a 15 s
    # recording holds seven 2 s windows and one visit an epoch leaves most of it unseen. Steps
    # per epoch (and so a budget counted in epochs) grow by the same factor.
    windows_per_epoch: int = 1
    eval_windows: str = "centre"  # how evaluation embeds a recording: "centre" window or "mean" over windows
    placement: str = "auto"  # training batches: "device" (decoded split held on the training device), "loader", "auto"
    device_data_gb: float = 2.0  # "auto" holds the split on the device when it fits in this many GB


@dataclass
class FrontendConfig:
    n_mels: int = 64  # mel bands; 64 resolves bird syllables at 16 kHz without wasting compute
    n_fft: int = 512  # 32 ms window at 16 kHz
    # 10 ms frames, the usual audio-SSL resolution (BYOL-A, PANNs). 20 ms halves a step's cost but lost val
    # kNN -2.5 (95 % CI -4.7..-0.3) at the default search's budget (docs/recipes.md).
    hop_length: int = 160
    f_min: float = 50.0  # below 50 Hz is hum, not birds
    f_max: float = 8000.0  # Nyquist at 16 kHz
    # "band": each mel band's median over time subtracted, then per-example standardisation:
    # removes the recording's stationary channel (why and sources: ssl_core.frontends.standardize;
    # measured: README, "The front end"). "instance": standardisation alone, for sounds whose
    # class is a stationary spectrum (held notes); "batch"; "none".
    normalize: str = "band"


@dataclass
class AugmentConfig:
    # Audio, applied per example on the device. Each has a probability and a strength. Sources: BYOL-A
    # (Niizumi et al. 2021) for the mix and the random resized crop, SpecAugment (Park et al. 2019) for the
    # masks; gain, noise, pitch shift, time stretch and filter have no one paper value (ours, untuned defaults).
    gain_p: float = 0.5  # random gain on the waveform
    gain_db: float = 6.0  # max |gain| in dB
    noise_p: float = 0.5  # additive white noise
    noise_snr_db: float = 15.0  # SNR of that noise; lower is stronger
    # BYOL-A (Niizumi et al. 2021): mixes every view with a past input from a memory bank, weight ~ U(0, 0.4).
    # Ours: the partner is another example of the batch (no bank), half the views, max 0.3; the values not
    # recorded. Off against on, SimCLR at the default search's 36 steps: val kNN +0.5 (95 % CI -1.3..+2.1), test
    # +1.4 (-2.9..+5.8), 2 seeds each (bench/recipe_ab.py; docs/recipes.md): not separable, so it stays.
    mix_p: float = 0.5  # BYOL-A background mix with another example of the batch (linear power)
    mix_ratio: float = 0.3  # max weight of the background; breaks recording-level cues
    pitch_shift_p: float = 0.3  # roll along the mel axis (cheap pitch shift on the spectrogram)
    pitch_shift_bins: int = 2  # max shift in mel bins
    # SpecAugment (Park et al. 2019), LibriSpeech policies: widths up to T = 100 frames and F = 27 of 80 mels,
    # one or two masks each, on every utterance. Ours: one mask each on half the views. 20 frames is 10 % of a
    # 2 s crop (201 frames; 100 would hide half of it); 8 of 64 mels is 12 %, against the paper's 34 %
    # (27 of 80). Measured with SimCLR at the default search's budget, 21 of 64 (34 %) scored the same:
    # val kNN +0.8 (95 % CI -0.9..+2.6), test -0.7 (-4.3..+2.2), 2 seeds each (bench/recipe_ab.py;
    # docs/recipes.md), so 8 stays.
    time_mask_p: float = 0.5  # SpecAugment time mask
    time_mask_frames: int = 20  # max masked frames
    freq_mask_p: float = 0.5  # SpecAugment frequency mask
    freq_mask_bins: int = 8  # max masked mel bins
    time_stretch_p: float = 0.0  # stretch the log-mel along time (cheap time stretch)
    time_stretch_max: float = 0.2  # rate drawn in [1 - max, 1 + max]
    # BYOL-A (Niizumi et al. 2021) crops every view (zooming out too); ours is off by default, zooms in only.
    # BYOL-A's random resized crop, off: with SimCLR at the default search's 36 steps, on every view it lowered
    # val kNN by 4.3 points (95 % CI -7.6..-1.6; test -2.2, -7.2..+4.3), 2 seeds each (bench/recipe_ab.py;
    # docs/recipes.md). BYOL-A trained 100 epochs; a long run may want it.
    spec_crop_p: float = 0.0  # BYOL-A random resized crop on the log-mel
    spec_crop_scale_min: float = 0.6  # smallest crop area fraction; 1 = no crop
    fader_p: float = 0.0  # random linear fade in / out over the clip (Random Linear Fader, BYOL-A v2, Niizumi 2023)
    fader_db: float = 6.0  # max level change across the clip in dB
    filter_p: float = 0.0  # random low / high / band-pass shaping of the spectrum
    filter_db: float = 12.0  # max attenuation of the filtered band in dB
    # Images. SimCLR (Chen et al. 2020, appendix A): crop 0.08-1 of the area at aspect 3/4-4/3, flip 0.5,
    # colour jitter p 0.8 (brightness, contrast, saturation 0.8 s, hue 0.2 s), grayscale 0.2, blur 0.5 on
    # ImageNet; s = 1 on ImageNet, 0.5 on CIFAR-10. DINO's official code crops globals at 0.4-1.
    # SimCLR's 0.08 against our 0.25, on the embedded digits (SimCLR, 190 steps, 3 seeds each; bench/recipe_ab.py,
    # docs/recipes.md): val kNN -0.1 (95 % CI -0.7..+0.4), test -0.6 (-2.4..+1.2): not separable, 0.25 stays.
    crop_scale_min: float = 0.25  # random resized crop area range [crop_scale_min, 1]
    crop_ratio_max: float = 4 / 3  # aspect ratio drawn log-uniformly in [1 / max, max]; 1 fixes it (SimCLR's 4/3)
    flip_p: float = 0.5  # horizontal flip (set 0 for digits: a mirrored 2 is not a 2)
    jitter_p: float = 0.8  # brightness/contrast/saturation jitter (SimCLR's 0.8; no hue jitter here)
    jitter_strength: float = 0.4  # jitter magnitude (SimCLR's s): 0.8 x s with SimCLR's CIFAR-10 s = 0.5
    grayscale_p: float = 0.2  # random grayscale (SimCLR's 0.2)
    blur_p: float = 0.0  # Gaussian blur; off by default for small images (SimCLR: 0.5 on ImageNet, none on CIFAR-10)
    blur_sigma_max: float = 2.0  # blur sigma drawn in [0.1, max] (SimCLR)
    solarize_p: float = 0.0  # solarisation (BYOL's second view uses 0.2)
    # Multi-crop (DINO, SwAV-style): global views plus smaller local views. DINO (Caron et al. 2021): 96 px
    # locals beside 224 px globals (side 0.43), 8 of them by its official code's default. Ours: none by
    # default, as each local view is another backbone pass on a 2-CPU budget.
    num_local_crops: int = 0  # extra local views; 0 = two global views only
    local_crop_fraction: float = 0.4  # local view size as a fraction of a global view (time for audio, side for images)


@dataclass
class ModelConfig:
    backbone: str = "resnet10t"  # any timm name; resnet10t (4.9 M params) trains in minutes on 2 CPU cores
    # Papers' projectors (hidden width, depth, output): SimCLR (Chen et al. 2020) and MoCo v2: 2048, 2, 128;
    # BYOL (Grill et al. 2020): 4096, 2, 256; SimSiam (Chen & He 2021): 2048, 3, 2048; Barlow Twins (Zbontar
    # et al. 2021) and VICReg (Bardes et al. 2022): 8192, 3, 8192; DINO (Caron et al. 2021): 2048, 3, a 256
    # bottleneck before its prototypes. Ours: one small head for all, sized for 2-CPU budgets; Barlow Twins
    # reports accuracy still rising with projector width, so it and VICReg sit furthest from their papers here.
    proj_hidden_dim: int = 512  # projector hidden width; resnet10t's feature width (ResNet-50's 2048 in SimCLR)
    proj_layers: int = 2  # projector depth (linear layers); SimCLR, MoCo v2, BYOL use 2, SimSiam and DINO 3
    embedding_dim: int = 128  # projector output, the space the SSL loss sees (SimCLR's and MoCo v2's 128)
    proj_batch_norm: bool = True  # BN in the projector stabilises BYOL/SimSiam and helps SimCLR
    proj_output_bn: str = "auto"  # BN (no affine) on the embedding: "auto" = the paper's choice (SimSiam on), "on", "off"
    # Predictor width for BYOL / SimSiam. SimSiam: 2048 -> 512 -> 2048, a bottleneck; BYOL: 256 -> 4096 -> 256.
    # At our 128-dim embedding 512 widens (128 -> 512 -> 128), BYOL's shape, not SimSiam's bottleneck.
    pred_hidden_dim: int = 512  # predictor width for BYOL / SimSiam
    # How the backbone pools its last feature map [B, F, H', W'] to [B, F] (timm's global_pool): "auto" is
    # "avgmax" (the mean of average and max pooling) for audio and the model's own for images; "timm" the
    # model's own (average for CNNs, the class token for ViTs); or "avg", "max", "avgmax". Max pooling keeps
    # a short call in a window of background that averaging dilutes; audio encoders add the max and the
    # mean over time (PANNs, Kong et al. 2020; BYOL-A, Niizumi et al. 2021). Birdsong, SimCLR at the default
    # search's 36 steps: val kNN +3.7 (95 % CI +1.0..+6.5) over "avg" (docs/recipes.md).
    global_pool: str = "auto"
    init_backbone: str = ""  # backbone weights to start from (ssl_core.export's file): fine-tuning; "": random init


@dataclass
class MethodConfig(*section_bases(METHOD_OPTIONS)):
    """The shared fields, then every method's own, flat (keys stay ``method.dino_out_dim``).

    Each method declares its fields, defaults and range checks in its ``<method>_options``
    module (``ssl_core.methods.METHOD_OPTIONS``); this class only joins them.
    """

    def problems(self, cfg: Any) -> Iterator[Problem]:
        """Every bad value as ``(field, value, allowed)``; each base's ``problems`` covers only its own."""
        for options in METHOD_OPTIONS:
            yield from options.problems(self, cfg)


@dataclass
class OptimConfig:
    # Papers: LARS (You et al. 2017) for SimCLR, BYOL, Barlow Twins and VICReg; SGD for MoCo v2 and SimSiam;
    # AdamW for DINO (with ViTs).
    name: str = "adamw"  # "sgd", "lars" or "adamw"; AdamW is the most forgiving on small data
    # The rate at batch 256, scaled to the global batch: linearly for SGD / LARS, with the square
    # root for AdamW (ssl_core.optim.effective_lr, with the sources): 1e-3 at batch 64 for AdamW.
    # Papers, per 256: SimCLR LARS 0.3, BYOL / Barlow Twins / VICReg LARS 0.2, SimSiam SGD 0.05, MoCo v2 SGD
    # 0.03, DINO AdamW 5e-4 (linear scaling). Ours: AdamW 4x DINO's, for a ResNet on small data; the AdamW
    # comparison in ssl_core/optim.py is the measurement behind it.
    lr: float = 2e-3
    scale_lr_with_batch: bool = True  # False: lr is used as given, whatever the batch (Goyal et al. 2017 scale it)
    # Papers: SimSiam and MoCo v2 1e-4 (SGD); SimCLR and VICReg 1e-6, BYOL and Barlow Twins 1.5e-6 (LARS);
    # DINO 0.04 rising to 0.4 (AdamW). Ours: SGD's value for all three optimisers; for AdamW, decoupled, it is
    # 400x below DINO's start; reason not recorded.
    weight_decay: float = 1e-4  # decoupled for AdamW, L2 for SGD/LARS
    momentum: float = 0.9  # SGD / LARS momentum; SimSiam's and MoCo v2's 0.9
    # Papers: SimCLR, BYOL and DINO warm up 10 epochs (of 100-1000); Goyal et al. 2017: 5 of 90. Ours: 1 of a
    # 20-epoch run, 5 %; 25 % of the default search's 4 epochs, where 10 % (SimCLR's share) scored the same:
    # val kNN -1.2 (95 % CI -3.4..+0.5), 2 seeds each (bench/recipe_ab.py; docs/recipes.md).
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay
    # Papers: SimCLR, BYOL and SimSiam use a cosine with no floor; DINO's official code ends at 1e-6. Ours: 1 %;
    # reason not recorded.
    min_lr_ratio: float = 0.01  # cosine decays to lr * min_lr_ratio
    # DINO's official code clips at 3.0; with DINO at the default search's 36 steps it scored the same as no clip:
    # val kNN +0.1 (95 % CI -1.3..+1.6), 2 seeds each (bench/recipe_ab.py; docs/recipes.md).
    grad_clip: float = 0.0  # max grad norm; 0 disables


@dataclass
class EvalConfig:
    every_epochs: int = 1  # evaluate (and report, checkpoint) every N epochs and at the end
    knn_k: int = 20  # neighbours (InstDisc / DINO use 20)
    knn_temperature: float = 0.07  # kNN weight temperature
    features: str = "backbone"  # "backbone" (pooled features) or "projector" (embedding)
    linear_probe: str = "final"  # "final", "every" or "never": the probe costs more than kNN
    clustering: bool = True  # k-means ARI/NMI, silhouette, Davies-Bouldin at each evaluation
    views_for_align: bool = True  # embed two augmented views of val items for the `align` metric
    before_training: bool = True  # also evaluate the untrained network (epoch 0): the floor to beat
    objective: str = "knn_top1"  # the metric checkpoints/best keeps (a search sets its space's objective)
    objective_mode: str = "max"  # "max" or "min": which way the objective is better
    # Disjoint windows per val recording for the shortcut probe (recording_share; audio only):
    # 2 is the least that asks "own recording or another of its class?"; 0 turns it off.
    shortcut_windows: int = 2
    # kNN queries of the objective: "val", or "train+val" leave-one-out (label-free methods only:
    # 5.5x the queries on birdsong at no training cost; ssl_core/eval/knn_loo.py says why).
    queries: str = "val"


@dataclass
class TrainConfig:
    epochs: int = 20  # SSL epochs over the train split
    seed: int = 0  # model init, loader order, crops and augmentations
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", "cuda:1"
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16", "fp32"
    channels_last: str = "auto"  # "auto" (on for CUDA and CPU: faster on both, bench/step_ab.py), "on", "off"
    output_dir: str = "runs/standalone"  # checkpoints and TensorBoard events go here
    keep_checkpoints: int = 2  # the last N periodic checkpoints are kept (the best is kept too)
    progress: str = "auto"  # "auto" (bar when stderr is a terminal), "on", "off"
    max_steps_per_epoch: int = 0  # 0: the whole split; >0 truncates epochs (smoke tests)
    compile: bool = False  # torch.compile the backbone (pays on GPUs for long runs)
    memory_limit_gb: float = 0.0  # cap this run's memory (CUDA: per-process fraction; CPU: RLIMIT_DATA); 0: none


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), suitable for YAML and checkpoints."""
        return _plain(dataclasses.asdict(self))

    def validate(self) -> "Config":
        """Range-check every field; raise ConfigError naming the first bad one.

        Each distinct config is checked once per process: the checks depend on the values
        alone, and a trial's config meets ``validate`` in its resolver, at a process boundary
        and in the trainer, so the content of every config that passed is remembered.
        """
        from ssl_core.config_checks import check_config

        key = repr(self.to_dict())
        if key in _VALIDATED:
            return self
        check_config(self)
        if len(_VALIDATED) >= MAX_REMEMBERED_CONFIGS:
            _VALIDATED.clear()  # space validation probes a few hundred configs; keep memory bounded
        _VALIDATED.add(key)
        return self


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_from_dict(raw: Mapping[str, Any] | None) -> Config:
    """Build a Config from a nested mapping that holds only what differs from defaults.

    Raises ConfigError on an unknown section or key (listing the valid ones) or a value
    of the wrong type. Ranges are checked by ``Config.validate()``.
    """
    cfg = Config()
    if raw is None:
        return cfg
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a config must be a mapping of sections, got {type(raw).__name__}")
    sections = {f.name: f for f in dataclasses.fields(Config)}
    for section_name, section_values in raw.items():
        if section_name not in sections:
            raise ConfigError(
                f"unknown config section {section_name!r}; valid sections: {', '.join(sections)}"
            )
        if section_values is None:
            continue
        if not isinstance(section_values, Mapping):
            raise ConfigError(f"config section {section_name!r} must be a mapping, got {section_values!r}")
        for key, value in section_values.items():
            set_value(cfg, f"{section_name}.{key}", value)
    return cfg


def set_value(cfg: Config, dotted_key: str, value: Any) -> None:
    """Set ``section.field`` on cfg, coercing the value to the field's type."""
    if not isinstance(dotted_key, str) or dotted_key.count(".") != 1:
        raise ConfigError(f"config keys look like section.field (e.g. method.temperature), got {dotted_key!r}")
    section_name, key = dotted_key.split(".")
    sections = {f.name for f in dataclasses.fields(Config)}
    if section_name not in sections:
        raise ConfigError(f"unknown config section {section_name!r} in {dotted_key!r}; valid sections: {', '.join(sorted(sections))}")
    section = getattr(cfg, section_name)
    field_types = section_types(type(section))
    if key not in field_types:
        raise ConfigError(
            f"unknown config key {dotted_key!r}; valid keys in {section_name!r}: {', '.join(field_types)}"
        )
    annotation = field_types[key]
    if isinstance(value, str) and value.strip() in NULL_TEXT and is_optional(annotation):
        # ``--set data.cache_dir=null`` means "no cache dir", not a directory named "null".
        value = None
    if isinstance(value, str) and not is_string_field(annotation):
        # Command-line values arrive as text: parse numbers, lists and booleans as YAML,
        # but only for non-string fields, so "off" stays "off" and never becomes False.
        value = parse_text(value)
    setattr(section, key, coerce_value(value, annotation, dotted_key))


def parse_override(text: str) -> tuple[str, Any]:
    """``'method.temperature=0.1'`` -> ``('method.temperature', '0.1')``; ``set_value`` parses the text."""
    if "=" not in text:
        raise ConfigError(f"an override looks like section.field=value, got {text!r}")
    key, raw_value = text.split("=", 1)
    return key.strip(), raw_value.strip()


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text ({err}); save it as UTF-8") from err
    try:
        # Bounded: alias bombs, duplicate keys, deep nesting and PyYAML's leaked ValueError /
        # KeyError / RecursionError all become YamlError, whose message never holds a whole value.
        return load_yaml(text, where=f"config file {path}")
    except YamlError as err:
        raise ConfigError(f"config file {path} is not valid YAML ({err.kind}: {err.detail})") from None


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (safe_load), apply ``key=value`` overrides, validate."""
    raw: Any = None
    if path is not None:
        path = Path(path)
        if path.is_dir():  # not "does not exist": it does, as the wrong kind of thing (issue 18)
            raise ConfigError(f"config file {path} is a folder, not a file; pass --config the YAML file in it "
                              f"(a file with only the keys that differ from the defaults)")
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        raw = _read_yaml(path)
    cfg = config_from_dict(raw)
    for text in overrides:
        set_value(cfg, *parse_override(text))
    return cfg.validate()


def is_finite_number(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
