"""What "best" means, for the trainer's ``checkpoints/best`` and the search's ranking alike.

A run's score is the best value of its objective (``eval.objective``, maximised or minimised
by ``eval.objective_mode``) over its evaluations *after* epoch 0: the untrained network's
evaluation (epoch 0) is the floor to beat, never a score the training produced. Among equal
values the latest epoch wins (it trained longer for the same score), so the trainer's best
checkpoint and the epoch the search ranks a trial by are the same evaluation; that checkpoint
is the one the test report, the figures and the exported backbone use.
"""

from __future__ import annotations

import math
from typing import Iterable

# The stable metric names of ssl_core.eval (reported at every evaluation): any may be an objective.
METRICS = ("knn_top1", "knn_balanced_top1", "knn_top5", "linear_top1", "ari", "nmi", "silhouette", "davies_bouldin",
           "emb_std", "eff_rank", "rankme", "align", "uniform", "head_top1", "medium_top1", "tail_top1")
# Metrics with an unambiguous better direction; the others (emb_std, align, uniform) are
# collapse diagnostics whose good value is "not near 0", so either mode may make sense.
BETTER = {"knn_top1": "max", "knn_balanced_top1": "max", "knn_top5": "max", "linear_top1": "max", "ari": "max", "nmi": "max",
          "silhouette": "max", "eff_rank": "max", "rankme": "max", "head_top1": "max", "medium_top1": "max",
          "tail_top1": "max", "davies_bouldin": "min"}
MODES = ("max", "min")
# A metric m with a 95 % bootstrap interval over query items reports it as m_low and m_high.
INTERVALS = ("knn_top1", "knn_balanced_top1")
CLUSTERING_METRICS = ("ari", "nmi", "silhouette", "davies_bouldin")  # need eval.clustering
# Objectives computed from the embeddings alone, without a label (ssl_core/eval/collapse.py:
# rankme): a search on data with few labels can rank by them; where labels exist the summary
# says how well their ranking agrees with kNN's (ssl_core/eval/rank_agreement.py).
LABEL_FREE = ("rankme",)


def is_improvement(value: float | None, best: float | None, mode: str) -> bool:
    """Whether ``value`` is at least as good as ``best`` (None / NaN ``best``: nothing yet).

    A missing or non-finite ``value`` never is. "At least as good" makes ties go to the
    later evaluation.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if value is None or not math.isfinite(value):
        return False
    if best is None or not math.isfinite(best):
        return True
    return value >= best if mode == "max" else value <= best


def best_evaluation(history: Iterable[tuple[int, float]], mode: str) -> tuple[float, int | None]:
    """``(score, epoch)`` of the best evaluation after epoch 0 in ``(epoch, value)`` pairs.

    ``(nan, None)`` when no evaluation after epoch 0 has a finite value.
    """
    best, best_epoch = math.nan, None
    for epoch, value in history:
        if epoch is None or epoch <= 0:
            continue
        if is_improvement(value, best, mode):
            best, best_epoch = float(value), int(epoch)
    return best, best_epoch
