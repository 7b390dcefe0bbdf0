"""Barlow Twins redundancy-reduction loss.

Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
https://arxiv.org/abs/2103.03230
"""

from __future__ import annotations

import torch
from torch import Tensor

# Standardisation follows the paper's reference code and lightly's BarlowTwinsLoss:
# BatchNorm1d(affine=False) in training mode, i.e. the *biased* (1/N) batch variance
# plus BatchNorm's default eps=1e-5 inside the square root.
_BN_EPS = 1e-5


def _standardise(z: Tensor) -> Tensor:
    """[N, D] -> [N, D] with zero mean and (almost) unit biased variance per column."""
    mean = z.mean(dim=0, keepdim=True)
    var = z.var(dim=0, unbiased=False, keepdim=True)
    return (z - mean) / torch.sqrt(var + _BN_EPS)


def barlow_twins_loss(z1: Tensor, z2: Tensor, lambda_offdiag: float = 5e-3) -> Tensor:
    """sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2, with C = z1n^T z2n / N.

    z1n, z2n are z1, z2 standardised per dimension over the batch (biased variance,
    eps 1e-5, as BatchNorm; matches lightly.loss.BarlowTwinsLoss to float precision).
    The loss is a sum over dimensions, not a mean, as in the paper, so its scale grows
    with D.

    Args:
        z1: [N, D] projections of view 1.
        z2: [N, D] projections of view 2.
        lambda_offdiag: weight of the redundancy (off-diagonal) term, >= 0; 5e-3 in the paper.

    Returns:
        Scalar loss.
    """
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must both be [N, D] with the same shape, got {tuple(z1.shape)} "
            f"and {tuple(z2.shape)}"
        )
    if z1.shape[0] < 2:
        raise ValueError(f"batch size must be >= 2 to standardise, got {z1.shape[0]}")
    if lambda_offdiag < 0:
        raise ValueError(f"lambda_offdiag must be >= 0, got {lambda_offdiag}")
    n, d = z1.shape
    c = _standardise(z1).T @ _standardise(z2) / n  # [D, D]
    diag = torch.diagonal(c)
    on_diag = (1.0 - diag).pow(2).sum()
    # Zero the diagonal rather than subtracting its squares: no cancellation in float32.
    off_diag_mask = ~torch.eye(d, dtype=torch.bool, device=c.device)
    off_diag = c[off_diag_mask].pow(2).sum()
    return on_diag + lambda_offdiag * off_diag
