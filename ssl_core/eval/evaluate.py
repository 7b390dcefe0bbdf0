"""Embed the evaluation splits with a method and compute every metric the search reads.

The train split (deterministic centre crops, no augmentation) is the kNN bank and the
val split the query set; with several workers each embeds a shard and the shards are
gathered, so the metrics describe the whole split whatever the worker count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ssl_core.data.eval_batches import loader_batches
from ssl_core.data.windows import mean_pool
from ssl_core.distributed import gather_no_grad
from ssl_core.eval.clustering import clustering_metrics
from ssl_core.eval.collapse import collapse_metrics, rankme
from ssl_core.eval.knn import accuracy_from_scores, knn_class_scores, predictions_from_scores
from ssl_core.eval.knn_loo import knn_class_scores_leave_one_out
from ssl_core.eval.linear_probe import linear_probe_accuracy
from ssl_core.eval.longtail import frequency_groups, group_accuracies
from ssl_core.eval.uncertainty import accuracy_interval, balanced_accuracy


@dataclass
class SplitEmbeddings:
    features: Tensor  # [N, F] on the evaluation device, in split order
    labels: Tensor  # [N] int64


@torch.no_grad()
def embed_loader(encode: Callable[[Tensor], Tensor], loader: DataLoader | Iterable,
                 prepare: Callable[[Tensor], Tensor | list[Tensor]], device: torch.device) -> SplitEmbeddings:
    """Run ``encode(prepare(x))`` over a split's batches: a loader whose sampler yields
    ``(index, seed)`` keys, or the ``(positions, batch)`` pairs of
    :mod:`ssl_core.data.eval_batches` (batches held on the device).

    Each rank sees a shard; rows are gathered and put back in split order (padding rows
    that the sampler repeated to even out shards are dropped). ``prepare`` may return a list
    of V views of a crop batch (not of windows): each is encoded and their features are
    concatenated, ``features [N, V * F]`` (one pass over the loader for all views).
    """
    batches = loader_batches(loader) if isinstance(loader, DataLoader) else loader
    feats, labels, positions = [], [], []
    for batch_positions, batch in batches:
        if len(batch) == 3:  # audio windows: (windows [sum W, T], counts [B], labels [B])
            windows, counts, y = batch
            f = mean_pool(encode(prepare(windows.to(device, non_blocking=True))).float(), counts)
        else:
            x, y = batch
            views = prepare(x.to(device, non_blocking=True))
            views = views if isinstance(views, list) else [views]
            f = torch.cat([encode(view).float() for view in views], dim=1)
        feats.append(f)
        labels.append(y.to(device))
        positions.append(torch.as_tensor(batch_positions, device=device))
    f = gather_no_grad(torch.cat(feats))
    lab = gather_no_grad(torch.cat(labels))
    pos = gather_no_grad(torch.cat(positions))
    order = torch.argsort(pos, stable=True)
    f, lab, pos = f[order], lab[order], pos[order]
    keep = torch.ones_like(pos, dtype=torch.bool)
    keep[1:] = pos[1:] != pos[:-1]  # drop repeats added to pad shards
    return SplitEmbeddings(f[keep], lab[keep].long())


def embedding_metrics(bank: SplitEmbeddings, queries: SplitEmbeddings, num_classes: int, *, k: int,
                      temperature: float, train_labels_for_groups: Tensor, clustering: bool,
                      linear_probe: bool, seed: int, leave_one_out: bool = False,
                      backbone_features: bool = False) -> dict[str, float]:
    """All metrics of one evaluation, keyed by the stable metric names (``ssl_core.objective.METRICS``).

    ``leave_one_out``: the kNN metrics (top-1/5, their intervals, balanced, long-tail groups)
    query every item of bank + queries against all the others (:mod:`ssl_core.eval.knn_loo`);
    the linear probe, clustering and collapse metrics keep the queries. ``knn_queries`` says
    how many items the kNN scores rest on. ``align`` is added by the caller.
    ``backbone_features``: the features are the backbone's (``eval.features=backbone``), so the
    label-free ``rankme`` is measured, on bank + queries (it needs no label, and more items
    bound its value less: :func:`ssl_core.eval.collapse.rankme`).
    """
    scores, knn_labels = knn_scores(bank, queries, num_classes, k=k, temperature=temperature,
                                    leave_one_out=leave_one_out)
    metrics = accuracy_from_scores(scores, knn_labels)
    pred = predictions_from_scores(scores)
    metrics.update(knn_intervals(pred, knn_labels))
    metrics["knn_queries"] = float(len(knn_labels))
    groups = frequency_groups(train_labels_for_groups.to(pred.device), num_classes)
    metrics.update(group_accuracies(pred, knn_labels, groups))
    metrics.update(collapse_metrics(queries.features))
    if backbone_features:
        metrics["rankme"] = rankme(torch.cat([bank.features, queries.features.to(bank.features.device)]))
    if clustering:
        metrics.update(clustering_metrics(queries.features, queries.labels, num_classes, seed=seed))
    if linear_probe:
        metrics["linear_top1"] = linear_probe_accuracy(bank.features, bank.labels, queries.features,
                                                       queries.labels, num_classes, seed=seed)
    return {name: float(value) for name, value in metrics.items()}


def knn_scores(bank: SplitEmbeddings, queries: SplitEmbeddings, num_classes: int, *, k: int, temperature: float,
               leave_one_out: bool = False) -> tuple[Tensor, Tensor]:
    """Weighted kNN class scores ``[N, C]`` and the true classes ``[N]`` of the items they score:
    the queries against the bank, or (``leave_one_out``) every item of bank + queries against
    all the others, bank first (:mod:`ssl_core.eval.knn_loo`)."""
    if not leave_one_out:
        scores = knn_class_scores(bank.features, bank.labels, queries.features, num_classes, k=k,
                                  temperature=temperature)
        return scores, queries.labels.to(scores.device)
    labels = torch.cat([bank.labels, queries.labels.to(bank.labels.device)])
    features = torch.cat([bank.features, queries.features.to(bank.features.device)])
    return knn_class_scores_leave_one_out(features, labels, num_classes, k=k, temperature=temperature), labels


def knn_hits(bank: SplitEmbeddings, queries: SplitEmbeddings, num_classes: int, *, k: int,
             temperature: float, leave_one_out: bool = False) -> tuple["np.ndarray", "np.ndarray"]:
    """Which items the weighted kNN gets right (:func:`knn_scores`): ``(hits [N] float64 0/1,
    labels [N] int64)``, numpy. The per-item outcome every interval and paired comparison of
    the verdict resamples.
    """
    scores, labels = knn_scores(bank, queries, num_classes, k=k, temperature=temperature,
                                leave_one_out=leave_one_out)
    pred = predictions_from_scores(scores)
    return (pred == labels.to(pred.device)).double().cpu().numpy(), labels.cpu().numpy()


def knn_intervals(pred: Tensor, labels: Tensor) -> dict[str, float]:
    """The kNN top-1's 95 % bootstrap interval over query items, and balanced (macro) top-1 with its own.

    ``pred``, ``labels``: ``[N]`` predicted and true classes of the queries.
    """
    hits = (pred == labels.to(pred.device)).cpu().numpy()
    y = labels.cpu().numpy()
    low, high = accuracy_interval(hits)
    balanced_low, balanced_high = accuracy_interval(hits, y)
    return {"knn_top1_low": low, "knn_top1_high": high, "knn_balanced_top1": balanced_accuracy(hits, y),
            "knn_balanced_top1_low": balanced_low, "knn_balanced_top1_high": balanced_high}


def finite_or_nan(metrics: dict[str, float]) -> dict[str, float]:
    """Metrics as plain floats; non-finite values stay NaN (TensorBoard and Tune accept NaN)."""
    return {k: (float(v) if math.isfinite(float(v)) else float("nan")) for k, v in metrics.items()}


def eval_encoder(method: nn.Module, features: str) -> Callable[[Tensor], Tensor]:
    """The function that turns an input batch into evaluation features."""
    return method.embed if features == "backbone" else method.project


def labels_tensor(labels: np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(labels), dtype=torch.long)
