"""Tests of ssl_core.eval metrics against independent references.

References: plain numpy formulas written here, and scikit-learn (KNeighborsClassifier,
KMeans and its cluster scores, LogisticRegression).
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
from sklearn.neighbors import KNeighborsClassifier

from ssl_core.eval import (
    alignment,
    clustering_metrics,
    collapse_metrics,
    effective_rank,
    emb_std,
    frequency_groups,
    group_accuracies,
    knn_accuracy,
    knn_class_scores,
    knn_predict,
    linear_probe_accuracy,
    uniformity,
)
from ssl_core.eval.clustering import KMEANS_N_INIT
from ssl_core.eval.knn_search import _bf16_bank, _topk_bf16_candidates


# ----------------------------------------------------------------------------- kNN


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_knn_scores(bank, bank_labels, queries, num_classes, k, temperature):
    """Weighted InstDisc vote, written plainly: full similarity matrix, explicit sort."""
    b, q = _unit(bank), _unit(queries)
    scores = np.zeros((q.shape[0], num_classes))
    for i in range(q.shape[0]):
        sims = [float(q[i] @ b[j]) for j in range(b.shape[0])]
        order = sorted(range(len(sims)), key=lambda j: -sims[j])[: min(k, len(sims))]
        for j in order:
            scores[i, bank_labels[j]] += math.exp(sims[j] / temperature)
    return scores


def _ranked_classes(scores_row):
    """Classes best first; equal scores keep the lower class first."""
    return sorted(range(len(scores_row)), key=lambda c: (-scores_row[c], c))


def _random_problem(seed, n_bank=60, n_query=25, dim=6, labels_present=(0, 2, 3, 5), num_classes=9):
    rng = np.random.default_rng(seed)
    bank = rng.standard_normal((n_bank, dim))
    queries = rng.standard_normal((n_query, dim))
    bank_labels = rng.choice(labels_present, size=n_bank)
    query_labels = rng.choice(labels_present, size=n_query)
    return bank, bank_labels, queries, query_labels, num_classes


@pytest.mark.parametrize("k", [1, 5, 20])
def test_knn_weighted_matches_brute_force(k):
    bank, bl, q, ql, C = _random_problem(seed=k)
    ref = _brute_knn_scores(bank, bl, q, C, k, temperature=0.07)
    t = torch.from_numpy
    pred = knn_predict(t(bank), t(bl), t(q), C, k=k, temperature=0.07, chunk_size=7)
    assert pred.tolist() == ref.argmax(axis=1).tolist()

    # Scores are the InstDisc sum exp(s / T) divided by exp(s_max / T) for each query.
    scores = knn_class_scores(t(bank), t(bl), t(q), C, k=k, temperature=0.07, chunk_size=7)
    assert scores.shape == (q.shape[0], C)
    s_max = (_unit(q) @ _unit(bank).T).max(axis=1, keepdims=True)
    np.testing.assert_allclose(scores.numpy() * np.exp(s_max / 0.07), ref, rtol=1e-9)
    # Columns of classes absent from the bank stay zero: C comes from the dataset.
    absent = [c for c in range(C) if c not in set(bl.tolist())]
    assert absent and scores[:, absent].abs().max() == 0


@pytest.mark.parametrize("k", [1, 5, 20])
def test_knn_accuracy_top1_top5_match_reference(k):
    bank, bl, q, ql, C = _random_problem(seed=100 + k, labels_present=tuple(range(8)), num_classes=8)
    ref = _brute_knn_scores(bank, bl, q, C, k, temperature=0.1)
    ranked = [_ranked_classes(row) for row in ref]
    top1 = 100.0 * np.mean([r[0] == y for r, y in zip(ranked, ql)])
    top5 = 100.0 * np.mean([y in r[:5] for r, y in zip(ranked, ql)])
    t = torch.from_numpy
    acc = knn_accuracy(t(bank), t(bl), t(q), t(ql), C, k=k, temperature=0.1, chunk_size=7)
    assert set(acc) == {"knn_top1", "knn_top5"}
    assert acc["knn_top1"] == pytest.approx(top1)
    assert acc["knn_top5"] == pytest.approx(top5)


def test_knn_top5_with_fewer_than_five_classes_is_always_hit():
    bank, bl, q, ql, C = _random_problem(seed=3, labels_present=(0, 1, 2), num_classes=3)
    t = torch.from_numpy
    acc = knn_accuracy(t(bank), t(bl), t(q), t(ql), C, k=5)
    assert acc["knn_top5"] == 100.0


@pytest.mark.parametrize("k", [1, 5, 20])
def test_knn_unweighted_matches_sklearn(k):
    # Bank lacks classes 1 and 4 and the query split lacks class 6 of the 9 dataset classes;
    # k=20 with few classes produces vote ties, which both must give to the lowest class.
    rng = np.random.default_rng(10 + k)
    bank = rng.standard_normal((70, 5))
    bl = rng.choice([0, 2, 3, 5, 6], size=70)
    q = rng.standard_normal((30, 5))
    ql = rng.choice([0, 1, 2, 3, 5], size=30)
    clf = KNeighborsClassifier(n_neighbors=k, weights="uniform", metric="cosine", algorithm="brute")
    clf.fit(bank, bl)
    t = torch.from_numpy
    pred = knn_predict(t(bank), t(bl), t(q), 9, k=k, weighted=False, chunk_size=7)
    assert pred.tolist() == clf.predict(q).tolist()
    acc = knn_accuracy(t(bank), t(bl), t(q), t(ql), 9, k=k, weighted=False, chunk_size=7)
    assert acc["knn_top1"] == pytest.approx(100.0 * clf.score(q, ql))


def test_knn_k_larger_than_bank_is_clipped():
    rng = np.random.default_rng(0)
    bank, q = rng.standard_normal((8, 4)), rng.standard_normal((12, 4))
    bl = rng.integers(0, 3, size=8)
    clf = KNeighborsClassifier(n_neighbors=8, metric="cosine", algorithm="brute").fit(bank, bl)
    t = torch.from_numpy
    pred = knn_predict(t(bank), t(bl), t(q), 3, k=50, weighted=False)
    assert pred.tolist() == clf.predict(q).tolist()


def test_knn_float32_small_temperature_does_not_overflow():
    bank, bl, q, ql, C = _random_problem(seed=5)
    t = lambda a: torch.from_numpy(a).float()  # noqa: E731
    scores = knn_class_scores(t(bank), torch.from_numpy(bl), t(q), C, k=20, temperature=0.005)
    assert torch.isfinite(scores).all()
    ref = _brute_knn_scores(bank, bl, q, C, 20, temperature=0.005)  # float64: exp(200) is finite
    assert scores.argmax(dim=1).tolist() == ref.argmax(axis=1).tolist()


def test_knn_value_errors():
    bank = torch.randn(10, 4)
    bl = torch.randint(0, 3, (10,))
    q = torch.randn(5, 4)
    ql = torch.randint(0, 3, (5,))
    with pytest.raises(ValueError, match="bank_labels"):
        knn_predict(bank, torch.full((10,), 3), q, num_classes=3)
    with pytest.raises(ValueError, match="bank_labels"):
        knn_predict(bank, torch.full((10,), -1), q, num_classes=3)
    with pytest.raises(ValueError, match="k must"):
        knn_predict(bank, bl, q, 3, k=0)
    with pytest.raises(ValueError, match="temperature"):
        knn_predict(bank, bl, q, 3, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        knn_predict(bank, bl, q, 3, temperature=-1.0)
    with pytest.raises(ValueError, match="empty"):
        knn_predict(torch.randn(0, 4), torch.zeros(0, dtype=torch.int64), q, 3)
    with pytest.raises(ValueError, match="dimension"):
        knn_predict(bank, bl, torch.randn(5, 7), 3)
    with pytest.raises(ValueError, match="query_labels"):
        knn_accuracy(bank, bl, q, torch.full((5,), 7), 3)
    with pytest.raises(ValueError, match="query_labels"):
        knn_accuracy(bank, bl, q, ql[:4], 3)
    with pytest.raises(ValueError, match="chunk_size"):
        knn_predict(bank, bl, q, 3, chunk_size=0)


def _clustered_f32(seed, n_bank, n_query, dim, num_classes=20, noise=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_classes, dim))
    y = rng.integers(0, num_classes, n_bank + n_query)
    x = (centres[y] + noise * rng.standard_normal((n_bank + n_query, dim))).astype(np.float32)
    return x[:n_bank], y[:n_bank], x[n_bank:], y[n_bank:]


def _float64_topk(bank, q, k):
    """Float64 cosine top-k of float32 inputs: (sims [Nq, k], indices [Nq, k], gap to k+1)."""
    s = _unit(q.astype(np.float64)) @ _unit(bank.astype(np.float64)).T
    order = np.argsort(-s, axis=1, kind="stable")[:, : k + 1]
    top = np.take_along_axis(s, order, axis=1)
    return top[:, :k], order[:, :k], top[:, k - 1] - top[:, k]


def _bf16_search(bank, q, k):
    stats = {}
    bank_n = torch.nn.functional.normalize(torch.from_numpy(bank), dim=1)
    q_n = torch.nn.functional.normalize(torch.from_numpy(q), dim=1)
    sim, idx = _topk_bf16_candidates(q_n, _bf16_bank(bank_n), k, stats)
    return sim.numpy(), idx.numpy(), stats


def test_knn_bf16_candidate_search_finds_the_float64_neighbours():
    bank, _, q, _ = _clustered_f32(seed=0, n_bank=12000, n_query=300, dim=64)
    ref_sim, ref_idx, gap = _float64_topk(bank, q, 20)
    assert gap.min() > 1e-5  # no float32 near-ties: the neighbour sets are well defined
    sim, idx, stats = _bf16_search(bank, q, 20)
    assert (np.sort(idx, axis=1) == np.sort(ref_idx, axis=1)).all()
    np.testing.assert_allclose(sim, ref_sim, atol=1e-6)  # float32 re-scored, sorted descending
    assert stats.get("first", 0) > 250 and sum(stats.values()) == 300


# Midpoint between the bfloat16 neighbours 0.6015625 and 0.60546875: cosines just above it
# and just below it land in different bfloat16 bins depending on input rounding (~1e-4).
_BF16_BOUNDARY = 0.603515625


def _near_tie_bank(n_query, group, n_background, k=20, spacing=2e-6, dim=256, seed=0):
    """Each query has `group` bank items whose cosines are spaced by 2e-6, the k-th largest
    just above a bfloat16 rounding boundary; background items sit near cosine 0 (std 1/16).

    2e-6 is 20x the float32 error of a cosine here but ~1/50 of the bfloat16 input rounding
    error, so the bfloat16 pass misorders the group: some true top-k items fall into the lower
    bin while k others reach the upper one. Only candidates taken within the error bound (both
    bins) and re-scored in float32 give the exact top k.
    """
    rng = np.random.default_rng(seed)
    q = _unit(rng.standard_normal((n_query, dim)))
    parts = []
    for j in range(n_query):
        r = rng.standard_normal((group, dim))
        r = _unit(r - (r @ q[j])[:, None] * q[j])  # orthogonal to q_j
        s = _BF16_BOUNDARY + spacing * (rng.permutation(group) - (group - k) + 0.5)
        parts.append(s[:, None] * q[j] + np.sqrt(1 - s**2)[:, None] * r)
    parts.append(rng.standard_normal((n_background, dim)))
    return np.concatenate(parts).astype(np.float32), q.astype(np.float32)


@pytest.mark.parametrize(
    "group,n_background,route", [(60, 12000, "first"), (300, 12000, "wider"), (300, 600, "exact")]
)
def test_knn_bf16_candidate_search_near_ties(group, n_background, route):
    # 60 candidates fit the first list (3k + 40 = 100); 300 overflow it: with 12000+ items a
    # 4x longer list holds them, with 3000 that list would exceed Nb / 8: float32 matmul.
    bank, q = _near_tie_bank(n_query=8, group=group, n_background=n_background)
    ref_sim, ref_idx, gap = _float64_topk(bank, q, 20)
    assert gap.min() > 1e-6
    sim, idx, stats = _bf16_search(bank, q, 20)
    assert stats == {route: 8}
    assert (np.sort(idx, axis=1) == np.sort(ref_idx, axis=1)).all()
    np.testing.assert_allclose(sim, ref_sim, atol=1e-6)


def test_knn_float32_large_bank_matches_float64():
    # 17000 bank items: the bfloat16 candidate route where the CPU has native bfloat16 dot
    # products (float64 always takes the plain matmul), so both routes must agree.
    bank, bl, q, ql = _clustered_f32(seed=1, n_bank=17000, n_query=400, dim=32)
    assert _float64_topk(bank, q, 20)[2].min() > 1e-6
    t = torch.from_numpy
    for weighted in (True, False):
        s32 = knn_class_scores(t(bank), t(bl), t(q), 20, k=20, weighted=weighted, chunk_size=128)
        s64 = knn_class_scores(t(bank).double(), t(bl), t(q).double(), 20, k=20, weighted=weighted)
        np.testing.assert_allclose(s32.numpy(), s64.numpy(), rtol=1e-4, atol=1e-6)
        assert (s32.argmax(dim=1) == s64.argmax(dim=1)).all()
    clf = KNeighborsClassifier(n_neighbors=20, metric="cosine", algorithm="brute").fit(bank, bl)
    assert knn_predict(t(bank), t(bl), t(q), 20, k=20, weighted=False).tolist() == clf.predict(q).tolist()


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
