"""Negative cosine similarity, the loss of SimSiam (Chen & He 2021,
https://arxiv.org/abs/2011.10566) and, up to a constant, BYOL (Grill et al. 2020,
https://arxiv.org/abs/2006.07733: 2 - 2 cos)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def negative_cosine_similarity(p: Tensor, z: Tensor) -> Tensor:
    """-mean_i cos(p_i, z_i).

    No stop-gradient here: SimSiam's ``z.detach()`` belongs in the method code, where
    it is visible.

    Args:
        p: [N, D] predictions.
        z: [N, D] targets.

    Returns:
        Scalar in [-1, 1]; -1 when every p_i points the same way as z_i.
    """
    if p.dim() != 2 or p.shape != z.shape:
        raise ValueError(
            f"p and z must both be [N, D] with the same shape, got {tuple(p.shape)} "
            f"and {tuple(z.shape)}"
        )
    return -F.cosine_similarity(p, z, dim=1).mean()
