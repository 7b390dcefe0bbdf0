"""Accuracy by class-frequency group (head / medium / tail) for long-tailed data.

Bird-song datasets are long-tailed, and a mean accuracy hides whether rare species are
learnt at all. Long-tail benchmarks (Liu et al. 2019, "Large-Scale Long-Tailed Recognition in
an Open World") report many/medium/few-shot accuracy with count thresholds tuned to
ImageNet-LT; those thresholds mean nothing for a dataset of another size, so here the groups
are terciles of the classes ranked by train count.
"""

from __future__ import annotations

import math

import torch

from ssl_core.eval.knn import _check_labels

HEAD, MEDIUM, TAIL = 0, 1, 2


def frequency_groups(train_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Group of every class: 0 = head, 1 = medium, 2 = tail.

    Rule: sort the C classes by train count, descending, ties broken by lower class index
    first; the class of rank r (0-based) goes to group floor(3 * r / C). So with C = 10 the
    sizes are 4 / 3 / 3 (a remainder goes to the head first). Equal counts can therefore
    straddle a boundary. Classes absent from train (count 0) are always tail, even if that
    makes the tail larger than a third.

    Args:
        train_labels: [N] int64 in [0, num_classes).
        num_classes: C of the dataset.

    Returns:
        [C] int64 on train_labels' device.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if train_labels.dim() != 1:
        raise ValueError(f"train_labels must be 1-D [N], got shape {tuple(train_labels.shape)}")
    _check_labels(train_labels, train_labels.shape[0], num_classes, "train_labels")
    counts = torch.bincount(train_labels.to(torch.int64), minlength=num_classes)
    # A stable descending sort keeps tied classes in index order.
    order = torch.sort(counts, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(num_classes, device=order.device)
    groups = torch.div(3 * rank, num_classes, rounding_mode="floor")
    groups[counts == 0] = TAIL
    return groups


def group_accuracies(pred: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> dict[str, float]:
    """Top-1 accuracy (percent) of the queries of each frequency group.

    Args:
        pred: [N] predicted classes.
        labels: [N] true classes in [0, C).
        groups: [C] output of `frequency_groups`.

    Returns:
        {"head_top1", "medium_top1", "tail_top1"}; NaN for a group with no query items.
    """
    if groups.dim() != 1 or groups.shape[0] == 0:
        raise ValueError(f"groups must be a non-empty [C] tensor, got {tuple(groups.shape)}")
    if pred.dim() != 1:
        raise ValueError(f"pred must be 1-D [N], got {tuple(pred.shape)}")
    _check_labels(labels, pred.shape[0], groups.shape[0], "labels")
    labels = labels.to(groups.device, torch.int64)
    correct = pred.to(groups.device) == labels
    item_group = groups[labels]
    out: dict[str, float] = {}
    for gid, name in ((HEAD, "head_top1"), (MEDIUM, "medium_top1"), (TAIL, "tail_top1")):
        mask = item_group == gid
        n = int(mask.sum())
        out[name] = 100.0 * int(correct[mask].sum()) / n if n else math.nan
    return out
