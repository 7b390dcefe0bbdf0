"""What a learned embedding must beat: the untrained backbone and features that need no training.

* :func:`untrained_run`: the run's own network before any training (the same seed, so the same
  weights the trainer started from), with batch-norm statistics estimated on the train split.
* :func:`fixed_feature_embeddings`: features with no learning at all, scored by the same kNN.
  Audio: the front end's log-mel spectrogram of the *whole* recording, per mel band its mean and
  standard deviation over time (``2 * n_mels`` numbers; the classic "bag of frames" summary of
  audio classification baselines). Images: the normalised pixels at the configured size. Both
  are z-scored with the train split's (the kNN bank's) statistics, so no dimension dominates
  the cosine similarity by its scale; nothing of val or test is used.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ssl_core.data.audio_dataset import WaveSource
from ssl_core.data.image_dataset import ImageDataset
from ssl_core.data_pipeline import decode_cache_for
from ssl_core.eval.evaluate import SplitEmbeddings, labels_tensor
from ssl_core.run import LoadedRun, load_run

EPS = 1e-6


def untrained_run(checkpoint_dir: Path, device: torch.device | str | None = None) -> LoadedRun:
    """The run of ``checkpoint_dir`` with the weights it had before training (the trainer's epoch 0),
    its batch-norm statistics re-estimated on the train split (:func:`recalibrate_batch_norm`)."""
    run = load_run(checkpoint_dir, device=device, trained=False)
    recalibrate_batch_norm(run)
    return run


@torch.no_grad()
def recalibrate_batch_norm(run: LoadedRun, windows: str = "centre") -> None:
    """Re-estimate every batch-norm layer's running mean and variance on the train split's
    evaluation inputs (a cumulative average over one pass; the weights are untouched).

    Why: training updates batch-norm statistics in every forward pass, whatever the learning
    rate. Measured on the embedded digits: 20 steps of SimCLR at lr 1e-7 (no learning) moved val
    kNN top-1 from 69.5 (the network at initialisation, statistics 0 and 1) to 85.9, all of it
    from statistics adapted to the data. An untrained network with default statistics is thus a
    straw man: every run "beats" it. The floor is the untrained network with its statistics
    estimated on the data (as AdaBN, Li et al. 2016, does for domain shift).

    ``windows``: audio only. ``"centre"`` passes one window per train recording (its centre,
    whatever ``data.eval_windows``); ``"eval"`` passes the windows the evaluation embeds (up to
    8 a recording with ``data.eval_windows=mean``). Why centre by default: a channel's
    statistics average over every time-frequency position of every window, so one window a
    recording already gives each layer hundreds of thousands of positions; the pass over all
    evaluation windows cost as much as the untrained network's whole test evaluation. Measured
    on the default search's 8 runs (docs/design.md, Decisions): the untrained test kNN moved by
    at most one of 69 items per run, the verdict's mean not at all.
    """
    from ssl_core.data import EpochSampler
    from ssl_core.data_pipeline import MAX_EVAL_WINDOWS, make_loader
    from ssl_core.eval.evaluate import eval_encoder

    if windows not in ("centre", "eval"):
        raise ValueError(f"windows must be 'centre' or 'eval', got {windows!r}")
    norms = [m for m in run.method.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average: every batch of the pass counts equally
    data = run.data
    cfg = run.cfg if windows == "eval" else replace(run.cfg, data=replace(run.cfg.data, eval_windows="centre"))
    encode = eval_encoder(run.method, cfg.eval.features)
    ids = data.splits["bank"]
    sampler = EpochSampler(len(ids), seed=cfg.train.seed + 7919, shuffle=False)
    sampler.set_epoch(0)
    # As the evaluator batches them: up to MAX_EVAL_WINDOWS windows a recording go through together.
    batch = max(1, cfg.data.batch_size // MAX_EVAL_WINDOWS) if cfg.data.eval_windows == "mean" else cfg.data.batch_size
    loader = make_loader(cfg, data.index, ids, train=False, batch_size=batch, num_crops=1, sampler=sampler,
                         drop_last=False, device=run.device, windows=True)
    run.method.train()
    for batch_items in loader:
        encode(data.view_maker.embed_input(batch_items[0].to(run.device)))
    run.method.eval()


@torch.no_grad()
def _audio_statistics(run: LoadedRun, item_ids: np.ndarray) -> Tensor:
    """Per-band log-mel mean and std of each whole recording: ``[N, 2 * n_mels]`` float32."""
    cfg, index = run.cfg, run.data.index
    frontend = run.data.view_maker.frontend
    source = WaveSource([index.items[i] for i in item_ids], cfg.data.sample_rate, decode_cache_for(cfg),
                        keep_decoded=False)
    rows = []
    for position in range(len(item_ids)):
        wave = torch.as_tensor(np.asarray(source.wave(position), dtype=np.float32), device=run.device)
        logmel = frontend.log_compress(frontend.mel_power(wave[None]))[0]  # [n_mels, frames]
        rows.append(torch.cat([logmel.mean(dim=-1), logmel.std(dim=-1, unbiased=False)]).float())
    return torch.stack(rows)


@torch.no_grad()
def _image_pixels(run: LoadedRun, item_ids: np.ndarray) -> Tensor:
    """The normalised pixels at ``data.image_size``, flattened: ``[N, C * S * S]`` float32."""
    dataset = ImageDataset([run.data.index.items[i] for i in item_ids], cache_decoded=False)
    images = torch.stack([dataset[i][0] for i in range(len(dataset))]).to(run.device)
    return run.data.view_maker.embed_input(images).flatten(1).float()


def fixed_feature_embeddings(run: LoadedRun, query_split: str) -> tuple[SplitEmbeddings, SplitEmbeddings]:
    """``(bank, queries)`` fixed features of the kNN bank (the labelled train split) and a split,
    z-scored with the bank's per-dimension mean and standard deviation."""
    raw = _audio_statistics if run.data.index.modality == "audio" else _image_pixels
    bank_ids, query_ids = run.data.splits["bank"], run.data.splits[query_split]
    bank, queries = raw(run, bank_ids), raw(run, query_ids)
    mean, std = bank.mean(dim=0), bank.std(dim=0, unbiased=False)
    scale = torch.where(std > EPS, std, torch.ones_like(std))  # constant dimensions stay constant
    return (SplitEmbeddings((bank - mean) / scale, labels_tensor(run.data.index.labels()[bank_ids]).to(run.device)),
            SplitEmbeddings((queries - mean) / scale,
                            labels_tensor(run.data.index.labels()[query_ids]).to(run.device)))
