"""What a search reports about its best run, from a :class:`~ssl_core.run.LoadedRun`.

* :func:`evaluate_test_split`: the run evaluated once on the test split (kNN, linear probe, long
  tail, clustering), on the run's device.
* :func:`embed_split`: a split's evaluation features (deterministic windows, the features
  kNN is scored on) with labels and class names, for the t-SNE figure and the Projector.
* :func:`view_pairs`: two augmented views of a few items, as training makes them.

The run is loaded once (``ssl_core.run.load_run``) and handed to each. Each scores against the
kNN bank its checkpoint saved (:mod:`ssl_core.bank_cache`) when there is one that fits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ssl_core.augment.preview import pick_items
from ssl_core.bank_cache import read_bank
from ssl_core.config import Config
from ssl_core.data_pipeline import build_dataset
from ssl_core.eval.evaluate import embed_loader, eval_encoder, labels_tensor
from ssl_core.eval_runner import Evaluator
from ssl_core.run import LoadedRun

DEFAULT_PAIRS = 4


def _check_split(run: LoadedRun, split: str) -> np.ndarray:
    ids = run.data.splits[split]
    if len(ids) == 0:
        raise ValueError(f"the {split} split of {run.data.index.name!r} is empty; raise data.split_fractions "
                         f"or give data.fold_map a {split} fold")
    return ids


def evaluator_for(run: LoadedRun, split: str, cfg: Config | None = None) -> Evaluator:
    """An evaluator of ``split`` queries for ``run`` (with ``cfg``, default the run's), handed the
    bank its checkpoint saved when the trained network is evaluated with the settings it was saved under."""
    cfg = run.cfg if cfg is None else cfg
    bank = read_bank(run.checkpoint_dir, cfg, run.device, labels_tensor(run.data.split_labels("bank"))) \
        if run.trained else None
    return Evaluator(cfg, run.data, run.device, query_split=split, bank=bank)


def evaluate_test_split(run: LoadedRun) -> dict[str, float]:
    """The run once on the test split, with the linear probe and clustering whatever the run's
    settings; ``epoch`` says which checkpoint was evaluated."""
    _check_split(run, "test")
    cfg = run.cfg
    cfg.eval.linear_probe, cfg.eval.clustering = "final", True
    torch.manual_seed(cfg.train.seed)  # `align` draws its views from the global RNG: the same report each time
    metrics = evaluator_for(run, "test").run(run.method, epoch=run.epoch, final=True)
    return {**{k: float(v) for k, v in metrics.items()}, "epoch": float(run.epoch)}  # which checkpoint


@torch.no_grad()
def embed_split(run: LoadedRun, split: str = "test") -> tuple[Tensor, Tensor, list[str]]:
    """A split embedded by the run's model.

    Returns ``features [N, F]`` float32 (``eval.features``: what kNN scores), ``labels [N]``
    int64 (-1 = unlabelled) and ``class_names`` (indexed by label), on the CPU.
    """
    _check_split(run, split)
    run.method.eval()
    evaluator = Evaluator(run.cfg, run.data, run.device, query_split=split)
    queries = embed_loader(eval_encoder(run.method, run.cfg.eval.features), evaluator.query_loader,
                           run.data.view_maker.embed_input, run.device)
    return queries.features.float().cpu(), queries.labels.cpu(), list(run.data.index.class_names)


@torch.no_grad()
def view_pairs(run: LoadedRun, labels: Tensor, split: str = "test", max_pairs: int = DEFAULT_PAIRS) -> Tensor | None:
    """Two augmented views of up to ``max_pairs`` items of ``split``: ``[P, 2, C, H, W]`` on the CPU.

    Items cover as many classes as possible (``labels [N]``: the split's labels in split
    order). Audio: log-mel views flipped so low frequencies are in the last row (drawn at the
    bottom, as spectrograms are read); images: the normalisation undone, clamped to [0, 1].
    None when ``max_pairs`` is 0.
    """
    if not isinstance(max_pairs, int) or max_pairs < 0:
        raise ValueError(f"max_pairs must be an integer >= 0, got {max_pairs!r}")
    if max_pairs == 0:
        return None
    ids = _check_split(run, split)
    cfg, data, seed = run.cfg, run.data, run.cfg.train.seed
    item_ids = ids[pick_items(labels.numpy(), min(max_pairs, len(ids)))]
    dataset = build_dataset(cfg, data.index, item_ids, train=True, num_crops=cfg.data.crops_per_item)
    audio = data.index.modality == "audio"
    # Audio datasets take (position, crop seed) keys, as the epoch sampler hands them out.
    samples = [dataset[(i, seed * 1_000_003 + i)] if audio else dataset[i] for i in range(len(item_ids))]
    x = torch.stack([s for s, _ in samples])
    torch.manual_seed(seed)  # the view maker draws from the global RNG: the same pairs every time
    first, second = data.view_maker(x.to(run.device), num_global=2)[:2]
    views = torch.stack([first, second], dim=1).float().cpu()
    if audio:
        return views.flip(-2)
    frontend = data.view_maker.frontend
    mean, std = frontend.mean[0].cpu(), frontend.std[0].cpu()  # [C, 1, 1]
    return (views * std + mean).clamp(0.0, 1.0)


def split_hits(run: LoadedRun, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Which items the run's weighted kNN gets right: ``(hits [N] 0/1, labels [N])``, for the
    verdict's intervals. The queries are those the objective used: ``split`` against the train
    split, or for ``split="val"`` with ``eval.queries=train+val`` (label-free methods) train + val
    leave-one-out, in that order."""
    from dataclasses import replace

    from ssl_core.eval.evaluate import knn_hits

    _check_split(run, split)
    cfg = replace(run.cfg, eval=replace(run.cfg.eval, views_for_align=False))  # kNN needs no augmented views
    evaluator = evaluator_for(run, split, cfg)
    bank, queries, _ = evaluator.embed(run.method)
    return knn_hits(bank, queries, run.data.num_classes, k=cfg.eval.knn_k, temperature=cfg.eval.knn_temperature,
                    leave_one_out=evaluator.leave_one_out())
