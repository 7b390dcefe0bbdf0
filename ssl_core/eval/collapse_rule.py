"""When a run has collapsed, from its reported metrics alone (no Ray, no model).

Used by the search to stop such trials early and by the summary to mark them; a rule
on reported metrics, so a resumed search or a re-read experiment reaches the same verdict.
"""

from __future__ import annotations

import math
from typing import Mapping

# emb_std of L2-normalised d-dim features is ~1/sqrt(d) when healthy. An untrained network
# already sits near 0.07/sqrt(d) (resnet10t: 0.0033 at d=512), so only far below that,
# after a grace period, is collapse.
EMB_STD_FRACTION = 0.02
# kNN top-1 at most this multiple of chance after the grace period means nothing was learnt.
CHANCE_MULTIPLE = 1.2


def collapse_reason(metrics: Mapping[str, float], grace_epochs: int) -> str | None:
    """Why ``metrics`` (one evaluation) show a collapsed run, in a short line (``emb_std 1e-05 < ...``), else None."""
    epoch = metrics.get("epoch", 0)
    if epoch is None or epoch < max(1, grace_epochs):
        return None
    emb_std, dim = metrics.get("emb_std"), metrics.get("feature_dim")
    if emb_std is not None and dim and math.isfinite(emb_std) and emb_std < EMB_STD_FRACTION / math.sqrt(dim):
        return f"emb_std {emb_std:.2g} < {EMB_STD_FRACTION}/sqrt({int(dim)})"
    knn, chance = metrics.get("knn_top1"), metrics.get("chance_top1")
    if knn is not None and chance and knn <= CHANCE_MULTIPLE * chance:
        return f"knn_top1 {knn:.3g} % at chance ({chance:.3g} %)"
    return None
