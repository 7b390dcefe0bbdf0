"""Tests of ssl_core.eval metrics against independent references.

References: plain numpy formulas written here, and scikit-learn (KMeans and its cluster
scores, LogisticRegression). The kNN classifier: test_eval_knn.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist as scipy_pdist
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    adjusted_rand_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_score,
)

from ssl_core.eval import (
    alignment,
    clustering_metrics,
    collapse_metrics,
    effective_rank,
    emb_std,
    frequency_groups,
    group_accuracies,
    linear_probe_accuracy,
    uniformity,
)
from ssl_core.eval.clustering import KMEANS_N_INIT


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ----------------------------------------------------------------------------- collapse


@pytest.mark.parametrize("d", [16, 128])
def test_emb_std_isotropic_is_one_over_sqrt_d(d):
    z = torch.randn(4096, d, generator=torch.Generator().manual_seed(d))
    assert emb_std(z) == pytest.approx(1.0 / math.sqrt(d), rel=0.1)


def test_emb_std_collapsed_is_zero():
    row = torch.randn(1, 32)
    assert emb_std(row.repeat(256, 1)) < 1e-6
    noisy = row.double().repeat(256, 1) + 1e-9 * torch.randn(256, 32, dtype=torch.float64)
    assert emb_std(noisy) < 1e-6


def _rankme_numpy(z: np.ndarray, eps: float = 1e-7) -> float:
    s = np.linalg.svd(z, compute_uv=False)
    p = s / s.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


@pytest.mark.parametrize("d", [16, 128])
def test_effective_rank_isotropic_close_to_d_and_matches_numpy(d):
    z = np.random.default_rng(d).standard_normal((2048, d))
    value = effective_rank(torch.from_numpy(z))
    assert value == pytest.approx(_rankme_numpy(z), rel=1e-9)
    assert 0.9 * d < value <= d


def test_effective_rank_rank_one_is_one():
    rng = np.random.default_rng(1)
    z = np.outer(rng.standard_normal(300), rng.standard_normal(24))
    value = effective_rank(torch.from_numpy(z))
    assert value == pytest.approx(_rankme_numpy(z), rel=1e-6)
    assert value == pytest.approx(1.0, abs=1e-3)
    assert effective_rank(torch.zeros(10, 4)) == 0.0


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_alignment_matches_numpy(alpha):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((40, 8)), rng.standard_normal((40, 8))
    ref = np.mean(np.linalg.norm(_unit(a) - _unit(b), axis=1) ** alpha)
    assert alignment(torch.from_numpy(a), torch.from_numpy(b), alpha=alpha) == pytest.approx(ref, rel=1e-9)
    assert alignment(torch.from_numpy(a), torch.from_numpy(a)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("t", [1.0, 2.0])
def test_uniformity_matches_numpy(t):
    z = _unit(np.random.default_rng(3).standard_normal((50, 6)))
    pairs = [np.sum((z[i] - z[j]) ** 2) for i in range(50) for j in range(i + 1, 50)]
    ref = np.log(np.mean(np.exp(-t * np.array(pairs))))
    assert uniformity(torch.from_numpy(z), t=t) == pytest.approx(ref, rel=1e-9)


def test_uniformity_subsample_is_repeatable_and_close_to_full():
    z = np.random.default_rng(4).standard_normal((5000, 4))
    full = np.log(np.mean(np.exp(-2.0 * scipy_pdist(_unit(z), "sqeuclidean"))))
    first = uniformity(torch.from_numpy(z))
    assert first == uniformity(torch.from_numpy(z))
    assert first == pytest.approx(full, abs=0.02)


def test_collapse_metrics_keys_and_values():
    z1 = torch.randn(64, 8, dtype=torch.float64)
    z2 = z1 + 0.1 * torch.randn(64, 8, dtype=torch.float64)
    out = collapse_metrics(z1)
    assert set(out) == {"emb_std", "eff_rank", "uniform"}
    both = collapse_metrics(z1, z2)
    assert set(both) == {"emb_std", "eff_rank", "uniform", "align"}
    assert both["align"] == pytest.approx(alignment(z1, z2))
    assert both["eff_rank"] == pytest.approx(_rankme_numpy(z1.numpy()))
    with pytest.raises(ValueError, match="z"):
        emb_std(torch.randn(1, 8))


# ----------------------------------------------------------------------------- clustering


def test_clustering_perfect_on_separated_blobs():
    # Centres on distinct axes so the classes also separate after L2 normalisation.
    centres = 10.0 * np.eye(8)[:4]
    x, y = make_blobs(n_samples=200, centers=centres, cluster_std=0.5, random_state=0)
    out = clustering_metrics(torch.from_numpy(x), torch.from_numpy(y), num_classes=4)
    assert out["ari"] == pytest.approx(1.0)
    assert out["nmi"] == pytest.approx(1.0)
    assert out["silhouette"] > 0.8


def test_clustering_matches_sklearn_called_directly():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 10)) + np.repeat(rng.standard_normal((5, 10)), 60, axis=0)
    y = np.repeat(np.arange(5), 60)
    out = clustering_metrics(torch.from_numpy(x), torch.from_numpy(y), num_classes=6, seed=3)
    xn = _unit(x)
    km = KMeans(n_clusters=6, n_init=KMEANS_N_INIT, random_state=3).fit_predict(xn)
    assert out["ari"] == pytest.approx(adjusted_rand_score(y, km))
    assert out["nmi"] == pytest.approx(normalized_mutual_info_score(y, km))
    assert out["silhouette"] == pytest.approx(silhouette_score(x, y, metric="cosine"))
    assert out["davies_bouldin"] == pytest.approx(davies_bouldin_score(xn, y))


def test_clustering_silhouette_is_subsampled_above_cap():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 3, size=6000)
    x = rng.standard_normal((6000, 4)) + 2.0 * np.eye(4)[y]
    out = clustering_metrics(torch.from_numpy(x), torch.from_numpy(y), num_classes=3)
    full_sample = silhouette_score(x, y, metric="cosine", sample_size=5000, random_state=0)
    assert out["silhouette"] == pytest.approx(full_sample, abs=0.02)


def test_clustering_nan_when_undefined():
    x = torch.randn(20, 4)
    one_class = clustering_metrics(x, torch.zeros(20, dtype=torch.int64), num_classes=3)
    assert math.isnan(one_class["silhouette"]) and math.isnan(one_class["davies_bouldin"])
    assert not math.isnan(one_class["ari"])
    singletons = clustering_metrics(x[:3], torch.tensor([0, 1, 2]), num_classes=3)
    assert math.isnan(singletons["silhouette"]) and math.isnan(singletons["davies_bouldin"])
    too_few = clustering_metrics(x[:3], torch.tensor([0, 1, 1]), num_classes=5)
    assert math.isnan(too_few["ari"]) and math.isnan(too_few["nmi"])
    with pytest.raises(ValueError, match="labels"):
        clustering_metrics(x, torch.full((20,), 3), num_classes=3)


# ----------------------------------------------------------------------------- linear probe


def test_linear_probe_separable_blobs_near_100():
    x, y = make_blobs(n_samples=600, centers=4, n_features=16, cluster_std=1.0, random_state=1)
    tx, ty = torch.from_numpy(x).float(), torch.from_numpy(y)
    acc = linear_probe_accuracy(tx[:400], ty[:400], tx[400:], ty[400:], num_classes=4, epochs=30)
    assert acc >= 99.0


def test_linear_probe_close_to_sklearn_logistic_regression():
    rng = np.random.default_rng(2)
    n, d, c = 1500, 20, 5
    x = rng.standard_normal((n, d)) * rng.uniform(0.5, 5.0, size=d) + rng.uniform(-3, 3, size=d)
    teacher = rng.standard_normal((d, c))
    y = np.argmax(((x - x.mean(0)) / x.std(0)) @ teacher + 1.5 * rng.standard_normal((n, c)), axis=1)
    tr, te = slice(0, 1000), slice(1000, n)
    mean, std = x[tr].mean(0), x[tr].std(0)
    clf = LogisticRegression(C=1.0 / (1e-4 * 1000), max_iter=2000)
    clf.fit((x[tr] - mean) / std, y[tr])
    ref = 100.0 * clf.score((x[te] - mean) / std, y[te])
    tx, ty = torch.from_numpy(x).float(), torch.from_numpy(y)
    acc = linear_probe_accuracy(tx[tr], ty[tr], tx[te], ty[te], num_classes=c, batch_size=256)
    assert 40.0 < ref  # the problem is learnable, far above 20 % chance
    assert abs(acc - ref) <= 3.0
    # Deterministic for a seed, and unaffected by a caller's no_grad().
    with torch.no_grad():
        again = linear_probe_accuracy(tx[tr], ty[tr], tx[te], ty[te], num_classes=c, batch_size=256)
    assert again == acc


def test_linear_probe_value_errors():
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    with pytest.raises(ValueError, match="train_labels"):
        linear_probe_accuracy(x, torch.full((10,), 2), x, y, num_classes=2)
    with pytest.raises(ValueError, match="dimension"):
        linear_probe_accuracy(x, y, torch.randn(10, 4), y, num_classes=2)
    with pytest.raises(ValueError, match="epochs"):
        linear_probe_accuracy(x, y, x, y, num_classes=2, epochs=0)
    with pytest.raises(ValueError, match="lr"):
        linear_probe_accuracy(x, y, x, y, num_classes=2, lr=0.0)


# ----------------------------------------------------------------------------- long tail


def _labels_from_counts(counts):
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))


def test_frequency_groups_hand_built_long_tail():
    # By count (desc, ties by index): c1(50) c3(20) c4(20) | c6(8) c0(5) | c5(1) c2(0);
    # rank r goes to floor(3 r / 7): ranks 0-2 head, 3-4 medium, 5-6 tail.
    groups = frequency_groups(_labels_from_counts([5, 50, 0, 20, 20, 1, 8]), num_classes=7)
    assert groups.tolist() == [1, 0, 2, 0, 0, 2, 1]


def test_frequency_groups_absent_classes_are_tail():
    # Ranks alone would put absent classes 1 and 2 in the medium group.
    groups = frequency_groups(_labels_from_counts([3, 0, 0, 0, 0, 1]), num_classes=6)
    assert groups.tolist() == [0, 2, 2, 2, 2, 0]
    with pytest.raises(ValueError, match="train_labels"):
        frequency_groups(torch.tensor([0, 6]), num_classes=6)


def test_group_accuracies_hand_count():
    groups = torch.tensor([0, 0, 1, 2])
    labels = torch.tensor([0, 1, 1, 3, 3, 0])
    pred = torch.tensor([0, 1, 0, 1, 3, 2])
    # head items (classes 0/1): indices 0,1,2,5 -> correct 0,1 -> 2/4;
    # medium (class 2): no items -> NaN; tail (class 3): indices 3,4 -> correct 4 -> 1/2.
    out = group_accuracies(pred, labels, groups)
    assert out["head_top1"] == pytest.approx(50.0)
    assert math.isnan(out["medium_top1"])
    assert out["tail_top1"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="labels"):
        group_accuracies(pred, torch.tensor([0, 1, 1, 3, 3, 4]), groups)
