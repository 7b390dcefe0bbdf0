"""Tests of ssl_core.eval's kNN classifier against independent references.

References: a brute-force weighted vote written plainly here, scikit-learn's
KNeighborsClassifier (brute force, cosine) and float64 neighbour searches in numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import normalize

from ssl_core.eval import knn_accuracy, knn_class_scores, knn_predict
from ssl_core.eval.knn_search import _bf16_bank, _topk_bf16_candidates


def _brute_knn_scores(bank, bank_labels, queries, num_classes, k, temperature):
    """Weighted InstDisc vote, written plainly: full similarity matrix, explicit sort."""
    b, q = normalize(bank), normalize(queries)
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
    s_max = (normalize(q) @ normalize(bank).T).max(axis=1, keepdims=True)
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
    s = normalize(q.astype(np.float64)) @ normalize(bank.astype(np.float64)).T
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
    q = normalize(rng.standard_normal((n_query, dim)))
    parts = []
    for j in range(n_query):
        r = rng.standard_normal((group, dim))
        r = normalize(r - (r @ q[j])[:, None] * q[j])  # orthogonal to q_j
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
