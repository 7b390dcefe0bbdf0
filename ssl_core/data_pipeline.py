"""From a config to loaders and an on-device view maker: everything data-shaped a run needs.

Checks that need the dataset (the batch against the split size, labels for supervised
methods) happen here, before any model is built, so bad input fails in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ssl_core.augment import AudioViewMaker, ImageViewMaker
from ssl_core.budget import steps_per_epoch, training_budget
from ssl_core.config import Config, ConfigError
from ssl_core.data import (AudioCropDataset, DatasetIndex, EpochSampler, ImageDataset, load_dataset,
                           split_by_fold, split_by_recording)
from ssl_core.data.audio_dataset import AudioWindowsDataset
from ssl_core.data.decode_cache import DecodeCache, decode_cache_from_setting, prepare_audio
from ssl_core.data.sampler import SpanningSampler
from ssl_core.data.splits import keep_label_fraction
from ssl_core.data.train_batches import DeviceBatches, EpochBatches, LoaderBatches, device_bytes
from ssl_core.data.windows import collate_windows

GB = 1e9


@dataclass
class DataBundle:
    """What the trainer needs from the data side of a run."""

    index: DatasetIndex
    splits: dict[str, np.ndarray]  # split name -> item indices
    train_batches: EpochBatches  # .epoch(e) yields (x, labels): audio [B, V, T] float, images [B, C, H, W] uint8
    view_maker: nn.Module  # x on the device -> list of views [B, C, H, W]
    in_chans: int
    steps_per_epoch: int
    announce: bool = False  # print where the data lives (a training run's first rank; not a rebuilt report)

    @property
    def num_classes(self) -> int:
        return self.index.num_classes

    def split_labels(self, split: str) -> np.ndarray:
        return self.index.labels()[self.splits[split]]


def decode_cache_for(cfg: Config) -> DecodeCache | None:
    """The decoded-audio cache the config asks for (a light object: paths, no data)."""
    return decode_cache_from_setting(cfg.data.decode_cache, cfg.data.cache_dir, cfg.data.sample_rate)


def load_and_split(cfg: Config, report_dir: Path | None = None,
                   notes: bool = True) -> tuple[DatasetIndex, dict[str, np.ndarray]]:
    """Load the dataset named by ``data.dataset`` and split it by recording (or by fold).

    Audio is decoded once into the decode cache first; unreadable, empty or truncated files
    are dropped before splitting, counted, printed and listed in ``decode_report.json``.
    ``notes``: print :func:`short_clips_note` (launch.py's data check and a run's first rank do;
    a report rebuilt from a checkpoint does not).
    """
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else None
    index = load_dataset(cfg.data.dataset, cache_dir=cache, format=cfg.data.format, manifest=cfg.data.manifest,
                         allow_outside_root=cfg.data.allow_outside_root, group_column=cfg.data.group_column or None)
    if index.modality == "audio":
        try:
            index, report = prepare_audio(index, decode_cache_for(cfg), workers=min(cfg.data.num_workers, 2),
                                          report_dir=report_dir, sample_rate=cfg.data.sample_rate)
        except ValueError as err:  # every file unreadable: say what to do about it
            raise ConfigError(f"{err}. Check that the files play (e.g. `python -m soundfile` or an audio player) "
                              f"and re-export them as WAV/FLAC/OGG, or point data.dataset at the folder with "
                              f"the recordings") from None
        if report.skipped:
            print(f"audio files of {index.name}: {report.summary()}", flush=True)
        note = short_clips_note(cfg, index) if notes else None
        if note:
            print(note, flush=True)
    if cfg.data.fold_map:
        splits = split_by_fold(index, cfg.data.fold_map)
    else:
        splits = split_by_recording(index, tuple(cfg.data.split_fractions), seed=cfg.data.split_seed)
    from ssl_core.methods import METHODS  # a label-using method (supervised, fine-tuning) trains on the labelled part

    return index, keep_label_fraction(index, splits, cfg.data.label_fraction, seed=cfg.data.split_seed,
                                      keep_unlabelled=not METHODS[cfg.method.name].uses_labels)


def short_clips_note(cfg: Config, index: DatasetIndex) -> str | None:
    """A note naming the recordings shorter than the crop, which every crop tiles (repeats end to
    end) to fill ``data.crop_seconds``; None when there are none, for images, or without a decode
    cache (lengths are then known only by decoding every file again).

    A 0.01 s clip tiled to a 2 s crop is 200 copies of itself: a buzz, not a call, and silently so
    unless said. Lengths come from the cache's memory-mapped headers (no audio read).
    """
    cache = decode_cache_for(cfg)
    if index.modality != "audio" or cache is None or not index.items:
        return None
    crop = round(cfg.data.crop_seconds * cfg.data.sample_rate)
    lengths = np.array([cache.load(item).shape[0] for item in index.items], dtype=np.int64)
    short = lengths < crop
    if not short.any():
        return None
    rate = cfg.data.sample_rate
    shortest = int(lengths.min())
    return (f"note: {int(short.sum())} of {len(lengths)} recordings of {index.name!r} are shorter than the "
            f"{cfg.data.crop_seconds:g} s crop (data.crop_seconds), the shortest {shortest / rate:.3g} s "
            f"({index.items[int(lengths.argmin())].path.name}); each crop repeats such a recording end to end "
            f"to fill {cfg.data.crop_seconds:g} s. If that is not wanted, drop those recordings from the dataset "
            f"or lower data.crop_seconds towards their length")


def check_data_against_config(cfg: Config, index: DatasetIndex, splits: dict[str, np.ndarray],
                              world_size: int, uses_labels: bool) -> None:
    """Refuse configs that cannot work on this dataset, naming the fix.

    The dataset's own shape is checked first (classes, the val split: the search objective),
    then what the config asks of it (batch size, labels for supervised methods), so that a
    too-small dataset is reported as such and not as a batch size to lower.
    """
    n_train = len(splits["train"])
    labels = index.labels()
    if index.num_classes < 2:
        raise ConfigError(f"dataset {index.name!r} has {index.num_classes} class(es) {list(index.class_names)}; "
                          "kNN evaluation needs at least 2. Add recordings of another class (a folder, or a "
                          "label value in the CSV, per class)")
    if len(splits["val"]) == 0:
        raise ConfigError(f"the val split of {index.name!r} is empty; it is the search objective. "
                          "Use more data (a class needs >= 3 recordings to reach val), larger "
                          "data.split_fractions[1], or a fold_map with a val fold")
    if (labels[splits["val"]] < 0).any():
        raise ConfigError(f"the val split of {index.name!r} has unlabelled items; val is the search objective "
                          "and needs labels (unlabelled files may only be used for training)")
    val_classes = np.unique(labels[splits["val"]])
    if len(val_classes) < 2:
        only = [index.class_names[c] for c in val_classes]
        raise ConfigError(f"the val split of {index.name!r} holds {len(val_classes)} class {only}; kNN accuracy "
                          "on one class does not rank embeddings. Give >= 2 classes at least 3 recordings each "
                          "(fewer stay in train), or put items of >= 2 classes in the val fold of data.fold_map")
    if cfg.data.batch_size > n_train:
        raise ConfigError(f"data.batch_size={cfg.data.batch_size} is larger than the train split "
                          f"({n_train} recordings of {index.name!r}); use at most {n_train}")
    if cfg.data.batch_size % world_size:
        raise ConfigError(f"data.batch_size={cfg.data.batch_size} must be divisible by the number of "
                          f"workers ({world_size}); it is the global batch")
    unlabelled = int((labels[splits["train"]] < 0).sum())
    if unlabelled and uses_labels:
        raise ConfigError(f"method {cfg.method.name!r} trains on labels, but the train split of {index.name!r} "
                          f"has {unlabelled} unlabelled items; use an SSL method or label them")
    if len(index.labelled_indices(splits["train"])) == 0:
        raise ConfigError(f"the train split of {index.name!r} has no labelled items; the kNN bank needs some")


def classes_missing_from(split: str, index: DatasetIndex, splits: dict[str, np.ndarray]) -> str | None:
    """A note (not an error) naming the classes with no item in ``split``, or None.

    A long-tailed dataset always has classes with < 3 recordings, which ``split_by_recording``
    keeps in train (SSL and the kNN bank still use them); they are simply not scored there.
    """
    present = set(np.unique(index.labels()[splits[split]]).tolist())
    missing = [name for c, name in enumerate(index.class_names) if c not in present]
    if not missing:
        return None
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    return (f"note: {len(missing)} of {index.num_classes} classes of {index.name!r} have no item in the {split} "
            f"split ({shown}): too few recordings (< 3) or none in that fold. They still train and sit in the "
            f"kNN bank, but the {split} score does not measure them")


#: evaluation windows per recording with ``data.eval_windows="mean"``
MAX_EVAL_WINDOWS = 8


def build_dataset(cfg: Config, index: DatasetIndex, item_ids: np.ndarray, train: bool, num_crops: int,
                  windows: bool = False) -> Dataset:
    """The CPU-side dataset of a split: audio crops (or evaluation windows) or images."""
    items = [index.items[i] for i in item_ids]
    if index.modality == "audio" and windows:
        return AudioWindowsDataset(items, cfg.data.sample_rate, cfg.data.crop_seconds, cache=decode_cache_for(cfg),
                                   max_windows=MAX_EVAL_WINDOWS, mode=cfg.data.eval_windows,
                                   cache_decoded=cfg.data.cache_decoded)
    if index.modality == "audio":
        return AudioCropDataset(items, cfg.data.sample_rate, cfg.data.crop_seconds, num_crops=num_crops,
                                train=train, cache_decoded=cfg.data.cache_decoded, cache=decode_cache_for(cfg),
                                window_weighting=cfg.data.window_weighting)
    return ImageDataset(items, cache_decoded=cfg.data.cache_decoded)


def make_loader(cfg: Config, index: DatasetIndex, item_ids: np.ndarray, *, train: bool, batch_size: int,
                num_crops: int, sampler: EpochSampler, drop_last: bool, device: torch.device,
                windows: bool = False) -> DataLoader:
    """``windows=True`` (audio evaluation): batches are ``(windows [sum W, T], counts [B], labels [B])``."""
    workers = cfg.data.num_workers
    windowed = windows and index.modality == "audio"
    return DataLoader(
        build_dataset(cfg, index, item_ids, train, num_crops, windows=windowed),
        collate_fn=collate_windows if windowed else None,
        batch_size=batch_size, sampler=sampler, drop_last=drop_last, num_workers=workers,
        # Persistent workers keep their decoded-audio cache between epochs.
        persistent_workers=workers > 0, pin_memory=device.type == "cuda",
        # Its own generator: otherwise the loader draws worker seeds from the global RNG when
        # its workers start, and a resumed run's augmentations would differ from the original's.
        generator=torch.Generator().manual_seed(cfg.train.seed),
    )


def in_channels(index: DatasetIndex) -> int:
    if index.modality == "audio":
        return 1  # log-mel spectrograms have one channel
    image, _ = ImageDataset([index.items[0]], cache_decoded=False)[0]
    return int(image.shape[0])


def build_view_maker(cfg: Config, index: DatasetIndex) -> nn.Module:
    if index.modality == "audio":
        return AudioViewMaker(cfg.augment, cfg.frontend, cfg.data.sample_rate)
    return ImageViewMaker(cfg.augment, cfg.data.image_size)


def build_data(cfg: Config, rank: int, world_size: int, device: torch.device,
               index_and_splits: tuple[DatasetIndex, dict[str, np.ndarray]] | None = None,
               report_dir: Path | None = None, announce: bool = True) -> DataBundle:
    """Everything a run needs of its data. ``announce``: print where the train batches come from
    (a training run does; a report rebuilt from a checkpoint, which trains nothing, does not)."""
    from ssl_core.methods import METHODS

    uses_labels = METHODS[cfg.method.name].uses_labels
    index, splits = index_and_splits or load_and_split(cfg, report_dir, notes=announce and rank == 0)
    # The kNN bank and the probe's training set: the labelled part of the train split.
    splits = dict(splits, bank=index.labelled_indices(splits["train"]))
    check_data_against_config(cfg, index, splits, world_size, uses_labels)
    local_batch = cfg.data.batch_size // world_size
    sampler = EpochSampler(len(splits["train"]), seed=cfg.train.seed, shuffle=True, rank=rank,
                           world_size=world_size, repeats=cfg.data.windows_per_epoch)
    steps = steps_per_epoch(cfg, len(splits["train"]), world_size)  # the budget's own count (ssl_core.budget)
    if announce and rank == 0:
        print(f"budget: {training_budget(cfg, len(splits['train']), world_size=world_size).describe()}", flush=True)
    batches = train_batches(cfg, index, splits["train"], sampler, local_batch, steps, device,
                            announce=announce and rank == 0)
    return DataBundle(index=index, splits=splits, train_batches=batches,
                      view_maker=build_view_maker(cfg, index).to(device), in_chans=in_channels(index),
                      steps_per_epoch=steps, announce=announce and rank == 0)


def train_batches(cfg: Config, index: DatasetIndex, item_ids: np.ndarray, sampler: EpochSampler, local_batch: int,
                  steps: int, device: torch.device, announce: bool = True) -> EpochBatches:
    """The train split's batches: held on ``device`` or from loader processes (``data.placement``).

    "auto" holds the decoded split on the device when it fits in ``data.device_data_gb``; the
    choice and the size are printed once (``announce``). "device" insists (and says which field
    to change when the split does not fit); "loader" never holds it.
    """
    dataset = build_dataset(cfg, index, item_ids, train=True, num_crops=cfg.data.crops_per_item)
    placement, why = choose_placement(cfg, dataset, device)
    if announce:
        print(f"train data: {placement} ({why})", flush=True)
    if placement == "device":
        return DeviceBatches(dataset, sampler, local_batch, steps, device)
    spanning = SpanningSampler(sampler, steps * local_batch, cfg.train.epochs)
    workers = cfg.data.num_workers
    loader = DataLoader(dataset, batch_size=local_batch, sampler=spanning, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0, pin_memory=device.type == "cuda",
                        # Its own generator, so the global RNG (the augmentations') is never drawn from.
                        generator=torch.Generator().manual_seed(cfg.train.seed))
    return LoaderBatches(loader, steps)


def choose_placement(cfg: Config, dataset: Dataset, device: torch.device) -> tuple[str, str]:
    """``("device" | "loader", why)`` for the train split's ``dataset`` under ``data.placement``.

    Raises ConfigError for ``data.placement=device`` when the split cannot be held (over the
    budget, or images of several shapes), naming the field to change.
    """
    setting, budget = cfg.data.placement, cfg.data.device_data_gb
    if setting == "loader":
        return "loader", f"data.placement=loader, {cfg.data.num_workers} loader processes"
    size = device_bytes(dataset)
    if size is None:
        if setting == "device":
            raise ConfigError("data.placement=device needs images of one shape (they are held as one "
                              "[N, C, H, W] tensor); these differ. Set data.placement=loader or auto")
        return "loader", "images of several shapes"
    fits = size <= budget * GB
    if setting == "device" and not fits:
        raise ConfigError(f"data.placement=device: the decoded train split takes {size / GB:.3f} GB on {device}, "
                          f"more than data.device_data_gb={budget}; raise data.device_data_gb to at least "
                          f"{size / GB:.3f} (if {device} has the memory) or set data.placement=loader or auto")
    if fits:
        return "device", f"{size / GB:.3f} GB decoded on {device}, budget data.device_data_gb={budget}"
    return "loader", (f"{size / GB:.3f} GB decoded > data.device_data_gb={budget}; "
                      f"{cfg.data.num_workers} loader processes")
