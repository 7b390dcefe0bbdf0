"""Intervals and balanced accuracy against independent references: scikit-learn, scipy, the binomial formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import balanced_accuracy_score

from ssl_core.eval.evaluate import knn_intervals
from ssl_core.eval.uncertainty import accuracy_interval, balanced_accuracy, difference_interval


def _hits_and_labels(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    pred = np.where(rng.random(n) < 0.6, labels, rng.integers(0, classes, size=n))
    return (pred == labels).astype(np.float64), labels, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_accuracy_is_scikit_learns(seed: int) -> None:
    hits, labels, pred = _hits_and_labels(150, 7, seed)
    assert balanced_accuracy(hits, labels) == pytest.approx(100 * balanced_accuracy_score(labels, pred))


def test_micro_interval_matches_the_binomial_normal_approximation() -> None:
    rng = np.random.default_rng(3)
    n, p = 2000, 0.3
    hits = (rng.random(n) < p).astype(float)
    low, high = accuracy_interval(hits)
    mean = 100 * hits.mean()
    half = 100 * 1.96 * math.sqrt(hits.mean() * (1 - hits.mean()) / n)
    assert low < mean < high
    assert low == pytest.approx(mean - half, abs=0.4)
    assert high == pytest.approx(mean + half, abs=0.4)


def test_the_issue_example_69_items_at_30_percent_is_about_plus_minus_11() -> None:
    hits = np.zeros(69)
    hits[:21] = 1  # 30.4 %
    low, high = accuracy_interval(hits)
    assert 9.0 < (high - low) / 2 < 12.5


def test_interval_is_repeatable_and_undefined_below_two_items() -> None:
    hits, labels, _ = _hits_and_labels(80, 5, 4)
    assert accuracy_interval(hits, labels) == accuracy_interval(hits, labels)
    assert all(math.isnan(v) for v in accuracy_interval(np.ones(1)))


def test_one_seed_difference_matches_scipys_paired_bootstrap() -> None:
    rng = np.random.default_rng(5)
    a = (rng.random(300) < 0.55).astype(float)
    b = np.where(rng.random(300) < 0.8, a, 1 - a)  # mostly agrees with a: strongly paired
    ours = difference_interval(a[None], b[None])
    ref = stats.bootstrap((a - b,), np.mean, n_resamples=4000, method="percentile",
                          random_state=np.random.default_rng(0)).confidence_interval
    assert ours.delta == pytest.approx(100 * (a.mean() - b.mean()))
    assert ours.low == pytest.approx(100 * ref.low, abs=1.0)
    assert ours.high == pytest.approx(100 * ref.high, abs=1.0)


def test_one_seed_balanced_difference_matches_scipys_paired_bootstrap() -> None:
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, size=240)
    a = (rng.random(240) < 0.7).astype(float)
    b = (rng.random(240) < 0.4).astype(float)
    ours = difference_interval(a[None], b[None], labels=labels)

    def stat(x, y, lab):
        return balanced_accuracy(x, lab) - balanced_accuracy(y, lab)

    ref = stats.bootstrap((a, b, labels), stat, paired=True, vectorized=False, n_resamples=2000,
                          method="percentile", random_state=np.random.default_rng(1)).confidence_interval
    assert ours.delta == pytest.approx(stat(a, b, labels))
    assert ours.low == pytest.approx(ref.low, abs=2.0)
    assert ours.high == pytest.approx(ref.high, abs=2.0)


def test_seed_noise_widens_the_interval_and_identical_runs_do_not_beat_each_other() -> None:
    rng = np.random.default_rng(7)
    base = (rng.random((3, 200)) < 0.5).astype(float)
    same = difference_interval(base, base, paired_seeds=True)
    assert same.delta == 0 and same.low == 0 and same.high == 0 and not same.beats and not same.loses
    # Seeds that disagree a lot: the interval over seeds and queries is wider than over queries alone.
    noisy = np.stack([(rng.random(200) < p).astype(float) for p in (0.3, 0.5, 0.7)])
    one = difference_interval(noisy.mean(axis=0, keepdims=True).round(), base[:1])
    three = difference_interval(noisy, base[:1])
    assert three.high - three.low > one.high - one.low


def test_a_clearly_better_embedding_beats_and_the_worse_loses() -> None:
    rng = np.random.default_rng(8)
    b = (rng.random((3, 150)) < 0.3).astype(float)
    a = np.maximum(b, (rng.random((3, 150)) < 0.4).astype(float))  # a hits wherever b does, and more
    diff = difference_interval(a, b, paired_seeds=True)
    assert diff.beats and diff.low > 10
    assert difference_interval(b, a, paired_seeds=True).loses


def test_difference_refuses_other_queries_and_unpaired_counts() -> None:
    with pytest.raises(ValueError, match="same queries"):
        difference_interval(np.ones((1, 5)), np.ones((1, 6)))
    with pytest.raises(ValueError, match="paired seeds"):
        difference_interval(np.ones((2, 5)), np.ones((3, 5)), paired_seeds=True)


def test_knn_intervals_hold_the_accuracies_they_bound() -> None:
    hits, labels, pred = _hits_and_labels(120, 6, 9)
    out = knn_intervals(torch.as_tensor(pred), torch.as_tensor(labels))
    top1 = 100 * hits.mean()
    assert out["knn_top1_low"] < top1 < out["knn_top1_high"]
    assert out["knn_balanced_top1"] == pytest.approx(100 * balanced_accuracy_score(labels, pred))
    assert out["knn_balanced_top1_low"] < out["knn_balanced_top1"] < out["knn_balanced_top1_high"]
