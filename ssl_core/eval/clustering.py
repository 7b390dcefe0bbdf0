"""Cluster-quality metrics of embeddings, with and without the true labels.

- ari / nmi: how well k-means clusters (k = number of dataset classes) on the L2-normalised
  embeddings agree with the true classes (Hubert & Arabie, 1985; Strehl & Ghosh, 2002).
- silhouette (cosine) / davies_bouldin: how well the TRUE classes separate in embedding space
  (Rousseeuw, 1987; Davies & Bouldin, 1979); no clustering involved.

All four use the L2-normalised embeddings, because contrastive methods compare directions
and raw norms differ wildly between methods. scikit-learn computes the scores.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_score,
)

from ssl_core.eval.knn import _check_labels

# Silhouette is O(N^2) in time and memory; 5000 points keep it to about a second.
SILHOUETTE_MAX_POINTS = 5000
# k-means restarts: with k up to hundreds of classes a single init is noticeably unstable.
KMEANS_N_INIT = 10


def _separation_defined(labels: np.ndarray) -> bool:
    """Silhouette and Davies-Bouldin need 2 <= distinct labels <= n_samples - 1.

    With one class there is no "other cluster" to compare against, and with as many classes
    as points every cluster is a singleton; scikit-learn raises in both cases, and a search
    trial should record NaN rather than die.
    """
    n_labels = np.unique(labels).size
    return 2 <= n_labels < labels.shape[0]


def clustering_metrics(
    feats: torch.Tensor, labels: torch.Tensor, num_classes: int, seed: int = 0
) -> dict[str, float]:
    """ARI, NMI, silhouette and Davies-Bouldin of embeddings.

    Args:
        feats: [N, D] embeddings (any device; moved to CPU for scikit-learn).
        labels: [N] int64 true classes in [0, num_classes).
        num_classes: number of k-means clusters: the dataset's class count, not the number
            of classes this split happens to contain.
        seed: seeds k-means and the silhouette subsample (at most 5000 points).

    Returns:
        {"ari", "nmi", "silhouette", "davies_bouldin"}. ari/nmi are NaN when N < num_classes
        (k-means cannot form that many clusters); silhouette/davies_bouldin are NaN when fewer
        than 2 distinct labels are present or N <= the number of distinct labels.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if feats.dim() != 2 or feats.shape[0] == 0:
        raise ValueError(f"feats must be a non-empty [N, D] tensor, got {tuple(feats.shape)}")
    _check_labels(labels, feats.shape[0], num_classes, "labels")

    x = F.normalize(feats.detach().to(torch.float64), dim=1).cpu().numpy()
    y = labels.detach().cpu().numpy().astype(np.int64)
    n = x.shape[0]
    nan = math.nan
    out: dict[str, float] = {}

    if n >= num_classes:
        km = KMeans(n_clusters=num_classes, n_init=KMEANS_N_INIT, random_state=seed)
        clusters = km.fit_predict(x)
        out["ari"] = float(adjusted_rand_score(y, clusters))
        out["nmi"] = float(normalized_mutual_info_score(y, clusters))
    else:
        out["ari"] = out["nmi"] = nan

    if n > SILHOUETTE_MAX_POINTS:
        keep = np.random.default_rng(seed).choice(n, SILHOUETTE_MAX_POINTS, replace=False)
        xs, ys = x[keep], y[keep]
    else:
        xs, ys = x, y
    out["silhouette"] = (
        float(silhouette_score(xs, ys, metric="cosine")) if _separation_defined(ys) else nan
    )
    # Davies-Bouldin is O(N * C): no need to subsample.
    out["davies_bouldin"] = float(davies_bouldin_score(x, y)) if _separation_defined(y) else nan
    return out
