"""Evaluation metrics of frozen embeddings: kNN, linear probe, clustering, collapse, long tail.

Metric names (stable; search spaces and summaries use them): knn_top1, knn_top5, linear_top1,
ari, nmi, silhouette, davies_bouldin, emb_std, eff_rank, rankme (label-free), align, uniform, head_top1,
medium_top1, tail_top1. Accuracies are in percent.
"""

from ssl_core.eval.clustering import clustering_metrics
from ssl_core.eval.collapse import alignment, collapse_metrics, effective_rank, emb_std, uniformity
from ssl_core.eval.knn import knn_accuracy, knn_class_scores, knn_predict
from ssl_core.eval.linear_probe import linear_probe_accuracy
from ssl_core.eval.longtail import frequency_groups, group_accuracies

__all__ = [
    "alignment",
    "clustering_metrics",
    "collapse_metrics",
    "effective_rank",
    "emb_std",
    "frequency_groups",
    "group_accuracies",
    "knn_accuracy",
    "knn_class_scores",
    "knn_predict",
    "linear_probe_accuracy",
    "uniformity",
]
