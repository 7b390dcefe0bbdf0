"""MoCo's own ``method.*`` fields (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem, at_least


@dataclass
class MoCoOptions:
    # MoCo v2 (Chen et al. 2020) keeps MoCo v1's (He et al. 2020) K = 65536 keys for ImageNet's 1.28 M images.
    # Ours is 16x smaller yet still larger than our train splits (birdsong: 314 recordings), so over a long
    # run an item meets stale keys of itself as negatives, which ssl_core/methods/moco.py advises against.
    # Measured at the default search's budget (54 steps, where a 4096 queue never fills), 256 scored the
    # same: val kNN +0.1 (95 % CI -1.3..+1.6), test -0.7 (-4.3..+1.4), 2 seeds each (bench/recipe_ab.py;
    # docs/recipes.md). Kept: no measured reason to move; long runs on small sets may want it below the split.
    queue_size: int = 4096

    def problems(self, cfg: Any) -> Iterator[Problem]:
        yield from at_least("queue_size", self.queue_size, 0)
        batch_size = cfg.data.batch_size
        # Only a MoCo run enqueues; the data checks already refused batch sizes below 2.
        if cfg.method.name == "moco" and batch_size > 0 and self.queue_size % batch_size != 0:
            yield ("queue_size", self.queue_size,
                   f"must be a multiple of data.batch_size={batch_size} so the queue fills in whole batches")
