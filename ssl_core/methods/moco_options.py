"""MoCo's own ``method.*`` fields (torch-free; ``ssl_core.methods.options`` says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ssl_core.methods.options import Problem, at_least


@dataclass
class MoCoOptions:
    queue_size: int = 4096  # MoCo v2 negatives queue; larger than the small embedded sets on purpose

    def problems(self, cfg: Any) -> Iterator[Problem]:
        yield from at_least("queue_size", self.queue_size, 0)
        batch_size = cfg.data.batch_size
        # Only a MoCo run enqueues; the data checks already refused batch sizes below 2.
        if cfg.method.name == "moco" and batch_size > 0 and self.queue_size % batch_size != 0:
            yield ("queue_size", self.queue_size,
                   f"must be a multiple of data.batch_size={batch_size} so the queue fills in whole batches")
