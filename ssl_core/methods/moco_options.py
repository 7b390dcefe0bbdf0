"""MoCo's own ``method.*`` fields (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem, at_least


@dataclass
class MoCoOptions:
    # MoCo v2 (Chen et al. 2020) keeps MoCo v1's (He et al. 2020) K = 65536 keys for ImageNet's 1.28 M images.
    # Ours is 16x smaller yet still larger than our train splits (birdsong: 314 recordings), so an item meets
    # stale keys of itself as negatives, which ssl_core/methods/moco.py advises against; the purpose is not recorded.
    queue_size: int = 4096  # MoCo v2 negatives queue; larger than the small embedded sets on purpose

    def problems(self, cfg: Any) -> Iterator[Problem]:
        yield from at_least("queue_size", self.queue_size, 0)
        batch_size = cfg.data.batch_size
        # Only a MoCo run enqueues; the data checks already refused batch sizes below 2.
        if cfg.method.name == "moco" and batch_size > 0 and self.queue_size % batch_size != 0:
            yield ("queue_size", self.queue_size,
                   f"must be a multiple of data.batch_size={batch_size} so the queue fills in whole batches")
