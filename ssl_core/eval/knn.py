"""Weighted k-nearest-neighbour classification on frozen embeddings.

The protocol is the one of InstDisc (Wu et al., 2018, "Unsupervised Feature Learning via
Non-Parametric Instance Discrimination", Sec. 3.4), reused by DINO (Caron et al., 2021) and
solo-learn: L2-normalise bank and queries, take the k most cosine-similar bank items, and let
each vote for its class with weight exp(s / T) (or 1 in the unweighted variant).

Queries are processed in chunks so that a bank of 200k items never builds a full
[Nq, Nb] similarity matrix: peak memory is about chunk_size * Nb elements.

The neighbour search itself (a float32 matmul, or on CPUs with native bfloat16 a faster
route to the same neighbours) is in ``knn_search.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ssl_core.eval.knn_search import prepare_bank, topk_neighbours, working_dtype_of


def _check_labels(labels: torch.Tensor, n: int, num_classes: int, name: str) -> None:
    """Raise ValueError unless `labels` is an integer vector of length n with values in [0, C)."""
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}], got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"{name} must be an integer tensor, got dtype {labels.dtype}")
    if n > 0:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"{name} has values in [{lo}, {hi}]; allowed range is [0, {num_classes - 1}] "
                f"(num_classes={num_classes})"
            )


def _validate(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    num_classes: int,
    k: int,
    temperature: float,
    chunk_size: int,
) -> None:
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if bank.dim() != 2 or queries.dim() != 2:
        raise ValueError(
            f"bank and queries must be 2-D [N, D]; got shapes {tuple(bank.shape)} and "
            f"{tuple(queries.shape)}"
        )
    if bank.shape[0] == 0:
        raise ValueError("bank is empty (0 items); kNN needs at least 1 bank item")
    if bank.shape[1] != queries.shape[1]:
        raise ValueError(
            f"feature dimension mismatch: bank has D={bank.shape[1]}, queries have "
            f"D={queries.shape[1]}"
        )
    _check_labels(bank_labels, bank.shape[0], num_classes, "bank_labels")


def _working_dtype(x: torch.Tensor) -> torch.dtype:
    return working_dtype_of(x.dtype)


def knn_class_scores(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    weighted: bool = True,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Per-class kNN vote of every query.

    Args:
        bank: [Nb, D] reference embeddings (e.g. the train split).
        bank_labels: [Nb] int64 class of every bank item, in [0, num_classes).
        queries: [Nq, D] embeddings to classify.
        num_classes: C, the number of classes of the *dataset* (not of the labels that a
            split happens to contain), so scores keep one column per class.
        k: neighbours per query; clipped to Nb.
        temperature: T of the InstDisc weights exp(s / T).
        weighted: if False every neighbour votes 1 (plain majority vote).
        chunk_size: queries per similarity block.

    Returns:
        [Nq, C] scores on bank's device. Weighted: sum over the k neighbours of
        exp((s - s_max) / T), where s_max is the query's best similarity. This is the
        InstDisc vote sum exp(s / T) divided by the per-query constant exp(s_max / T),
        which leaves every ranking (and so predictions and top-5) unchanged but cannot
        overflow at small T (exp(1 / 0.01) already overflows float32). Unweighted: vote counts.
    """
    _validate(bank, bank_labels, queries, num_classes, k, temperature, chunk_size)
    device = bank.device
    dtype = _working_dtype(bank)
    k_eff = min(k, bank.shape[0])
    prepared = prepare_bank(F.normalize(bank.detach().to(dtype), dim=1), k_eff)
    labels = bank_labels.to(device=device, dtype=torch.int64)

    out = torch.zeros(queries.shape[0], num_classes, dtype=dtype, device=device)
    for start in range(0, queries.shape[0], chunk_size):
        q = F.normalize(queries[start : start + chunk_size].detach().to(device, dtype), dim=1)
        top_sim, top_idx = topk_neighbours(q, prepared, k_eff)  # [B, k], sorted descending
        if weighted:
            votes = torch.exp((top_sim - top_sim[:, :1]) / temperature)
        else:
            votes = torch.ones_like(top_sim)
        out[start : start + q.shape[0]].scatter_add_(1, labels[top_idx], votes)
    return out


def _rank_classes(scores: torch.Tensor) -> torch.Tensor:
    """[Nq, C] scores -> [Nq, C] class indices, best first; ties keep the lower class first."""
    # A stable descending sort keeps equal scores in index order, the same tie rule as
    # scikit-learn's mode (lowest label wins) and as torch.argmax (first maximum).
    return torch.sort(scores, dim=1, descending=True, stable=True).indices


def knn_predict(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    weighted: bool = True,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Predicted class [Nq] (int64) of every query: the argmax of `knn_class_scores`.

    Ties go to the lowest class index, as in scikit-learn's KNeighborsClassifier.
    """
    scores = knn_class_scores(
        bank, bank_labels, queries, num_classes, k, temperature, weighted, chunk_size
    )
    return _rank_classes(scores)[:, 0]


def knn_accuracy(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    weighted: bool = True,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """kNN top-1 and top-5 accuracy in percent.

    Args: as `knn_class_scores`, plus query_labels: [Nq] int64 in [0, num_classes).

    Returns:
        {"knn_top1", "knn_top5"}; top-5 counts a query as correct when its class is among
        the min(5, C) best-scored classes (ties ranked by lower class index first).
    """
    # Validate everything (query labels included) before the costly similarity pass.
    _validate(bank, bank_labels, queries, num_classes, k, temperature, chunk_size)
    _check_labels(query_labels, queries.shape[0], num_classes, "query_labels")
    if queries.shape[0] == 0:
        raise ValueError("queries is empty (0 items); accuracy needs at least 1 query")
    scores = knn_class_scores(
        bank, bank_labels, queries, num_classes, k, temperature, weighted, chunk_size
    )
    return accuracy_from_scores(scores, query_labels)


def accuracy_from_scores(scores: torch.Tensor, query_labels: torch.Tensor) -> dict[str, float]:
    """knn_top1 / knn_top5 in percent from class scores ``[Nq, C]`` (ties: lower class first)."""
    ranked = _rank_classes(scores)
    truth = query_labels.to(ranked.device, torch.int64).unsqueeze(1)
    top5 = min(5, scores.shape[1])
    hit1 = (ranked[:, :1] == truth).any(dim=1)
    hit5 = (ranked[:, :top5] == truth).any(dim=1)
    return {
        "knn_top1": 100.0 * hit1.double().mean().item(),
        "knn_top5": 100.0 * hit5.double().mean().item(),
    }


def predictions_from_scores(scores: torch.Tensor) -> torch.Tensor:
    """Predicted class ``[Nq]`` from class scores ``[Nq, C]`` (ties: lower class first)."""
    return _rank_classes(scores)[:, 0]
