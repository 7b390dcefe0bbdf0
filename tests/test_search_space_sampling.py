"""Sampling a search space's distributions, against references written here or taken from
scipy: exact multiples for the quantised kinds, log-width weights for log_int, a
Kolmogorov-Smirnov test for the continuous kinds and a chi-squared test for choices.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from scipy import stats

from search_spaces import Distribution, SearchSpaceError, load_space, parse_distribution, sample_params


def test_sampling_is_deterministic_for_a_seeded_rng() -> None:
    space = load_space("audio_augment")
    first = [sample_params(space, np.random.default_rng(7)) for _ in range(2)]
    assert first[0] == first[1]
    assert sample_params(space, np.random.default_rng(8)) != first[0]
    rng = np.random.default_rng(7)
    draws = [sample_params(space, rng) for _ in range(3)]
    assert draws[0] == first[0] and draws[1] != draws[0]


def test_quantised_values_are_multiples_of_q_and_reach_both_ends() -> None:
    rng = np.random.default_rng(0)
    dist = parse_distribution({"quniform": [0.0, 1.0, 0.1]})
    values = [dist.sample(rng) for _ in range(3000)]
    # Exact decimal multiples: Fraction of the printed value is k/10 for an integer k.
    assert {Fraction(repr(v)) * 10 for v in values} == {Fraction(k) for k in range(11)}
    ints = parse_distribution({"qloguniform": [8, 512, 8]})
    drawn = [ints.sample(rng) for _ in range(3000)]
    assert all(isinstance(v, int) and v % 8 == 0 and 8 <= v <= 512 for v in drawn)
    assert min(drawn) == 8 and max(drawn) > 400
    # qloguniform puts as much mass on [8, 64] as on [64, 512]: a log scale.
    assert abs(np.mean(np.array(drawn) <= 64) - 0.5) < 0.05


def test_int_bounds_are_inclusive_and_log_int_weights_by_log_width() -> None:
    rng = np.random.default_rng(0)
    values = [Distribution("int", 0, 4).sample(rng) for _ in range(2000)]
    assert set(values) == {0, 1, 2, 3, 4} and all(isinstance(v, int) for v in values)
    n = 20000
    logs = np.array([Distribution("log_int", 1, 4).sample(rng) for _ in range(n)])
    assert set(logs.tolist()) == {1, 2, 3, 4}
    # Each integer k gets the log-width of [k, k + 1) out of [1, 5): log((k+1)/k) / log(5).
    for k in (1, 2, 3, 4):
        expected = math.log((k + 1) / k) / math.log(5)
        assert abs(np.mean(logs == k) - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


@pytest.mark.parametrize("spec, reference", [
    ({"uniform": [0.2, 0.9]}, stats.uniform(loc=0.2, scale=0.7)),
    ({"loguniform": [0.03, 1.0]}, stats.loguniform(0.03, 1.0)),
])
def test_continuous_samples_follow_scipy_distribution(spec: dict[str, list[float]], reference: Any) -> None:
    dist = parse_distribution(spec)
    rng = np.random.default_rng(1)
    samples = np.array([dist.sample(rng) for _ in range(4000)])
    assert samples.min() >= dist.low and samples.max() <= dist.high
    assert stats.kstest(samples, reference.cdf).pvalue > 0.001


def test_choice_samples_every_value_about_equally() -> None:
    dist = parse_distribution({"choice": ["a", 1, 2.5, True, None]})
    rng = np.random.default_rng(2)
    samples = [dist.sample(rng) for _ in range(5000)]
    counts = [sum(1 for s in samples if type(s) is type(c) and s == c) for c in dist.choices]
    assert stats.chisquare(counts).pvalue > 0.001


def test_distribution_constructor_refuses_what_the_parser_refuses() -> None:
    for bad in (dict(kind="uniform", low=1.0, high=1.0), dict(kind="loguniform", low=-1.0, high=1.0),
                dict(kind="int", low=0.5, high=3), dict(kind="choice", choices=()),
                dict(kind="choice", choices=(1, 1)), dict(kind="choice", choices=([1, 2],)),
                dict(kind="normal", low=0.0, high=1.0), dict(kind="uniform", low=float("nan"), high=1.0)):
        with pytest.raises(SearchSpaceError):
            Distribution(**bad)
