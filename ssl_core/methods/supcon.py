"""SupCon (Khosla et al. 2020): SimCLR's loss with every same-class view as a positive."""

from __future__ import annotations

from torch import Tensor

from ssl_core.methods.registry import register_method
from ssl_core.methods.simclr import SimCLR


@register_method("supcon")
class SupCon(SimCLR):
    """Supervised contrastive learning: positives are all views sharing the class label.

    It uses labels, so it is a supervised reference point rather than SSL; on long-tailed
    BirdCLEF it is the usual fix when SimCLR learns the recording instead of the bird.
    """

    uses_labels = True

    def positive_ids(self, labels: Tensor, batch_size: int, num_views: int) -> Tensor:
        return labels.repeat(num_views)
