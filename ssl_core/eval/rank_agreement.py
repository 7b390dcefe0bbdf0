"""Does a label-free objective rank trials as the kNN accuracy does? One line for the summary.

A label-free objective (``rankme``, :mod:`ssl_core.eval.collapse`) lets a search rank
configurations on data with few labels; whether its ranking means anything *on this data* is an
empirical question. Where labels exist, the trials of a search are ranked both ways and the
Spearman rank correlation between the two rankings (``scipy.stats.spearmanr``, with its
two-sided p-value against no association) is reported with the number of trials, so a user can
see whether to trust the label-free ranking where labels are missing.

Below :data:`MIN_TRIALS` trials a rank correlation says nothing (with 4 trials even a perfect
agreement has p = 0.08), so the line says "too few trials" instead of a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats

MIN_TRIALS = 5
REFERENCE = "knn_top1"  # the label-using ranking a label-free one is checked against


@dataclass(frozen=True)
class Agreement:
    rho: float  # Spearman's rank correlation, in [-1, 1]; nan when undefined (a constant ranking)
    p_value: float  # two-sided, against no association
    n: int  # trials with both values

    @property
    def enough(self) -> bool:
        return self.n >= MIN_TRIALS and math.isfinite(self.rho)


def rank_agreement(label_free: Sequence[float], labelled: Sequence[float]) -> Agreement:
    """Spearman agreement of two scores of the same trials (``[N]`` each, in the same order).

    Pairs with a non-finite value on either side are dropped first. Both scores must be
    "higher is better" (rankme and kNN accuracy are).
    """
    if len(label_free) != len(labelled):
        raise ValueError(f"two scores of the same trials are needed, got {len(label_free)} and {len(labelled)}")
    pairs = [(float(a), float(b)) for a, b in zip(label_free, labelled) if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3:  # spearmanr needs at least 3 points to give a p-value
        return Agreement(math.nan, math.nan, len(pairs))
    a, b = zip(*pairs)
    if len(set(a)) == 1 or len(set(b)) == 1:  # a constant ranking: the correlation is undefined
        return Agreement(math.nan, math.nan, len(pairs))
    result = stats.spearmanr(a, b)
    return Agreement(float(result.statistic), float(result.pvalue), len(pairs))


def agreement_line(metric: str, agreement: Agreement, objective: str) -> str:
    """The summary's line. ``metric``: the label-free metric; ``objective``: the search's objective."""
    role = "the label-free objective" if metric == objective else "the label-free metric"
    head = (f"label-free check: {role} {metric} against {REFERENCE} over the trials (each at its scored "
            f"evaluation)")
    if not agreement.enough:
        why = "a constant ranking" if agreement.n >= MIN_TRIALS else f"at least {MIN_TRIALS} are needed"
        return f"{head}: too few trials to tell (n={agreement.n}; {why})"
    if agreement.p_value >= 0.05:
        strength = "show no clear agreement"
    elif agreement.rho < 0:
        strength = "are inverted"
    else:
        strength = "agree" if agreement.rho >= 0.7 else "agree weakly"
    trust = "trust its ranking on data like this" if strength == "agree" else \
        "do not trust its ranking alone on data like this"
    return (f"{head}: Spearman rho {agreement.rho:+.2f} (p = {agreement.p_value:.2g}, n = {agreement.n} trials): "
            f"the rankings {strength}; {trust}")
