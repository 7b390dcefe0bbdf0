"""VICReg: variance-invariance-covariance regularisation.

Bardes et al. 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", https://arxiv.org/abs/2105.04906
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _variance_term(z: Tensor, eps: float) -> Tensor:
    """Hinge on the per-dimension std: mean_d relu(1 - sqrt(Var_unbiased(z_d) + eps))."""
    std = torch.sqrt(z.var(dim=0, unbiased=True) + eps)
    return F.relu(1.0 - std).mean()


def _covariance_term(z: Tensor) -> Tensor:
    """Sum of squared off-diagonal entries of the (unbiased) covariance, divided by D."""
    n, d = z.shape
    zc = z - z.mean(dim=0, keepdim=True)
    cov = zc.T @ zc / (n - 1)  # [D, D]
    off_diag_mask = ~torch.eye(d, dtype=torch.bool, device=z.device)
    return cov[off_diag_mask].pow(2).sum() / d


def vicreg_loss(
    z1: Tensor,
    z2: Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    eps: float = 1e-4,
) -> Tensor:
    """sim_weight * MSE(z1, z2) + var_weight * V + cov_weight * C.

    As in the authors' code and lightly.loss.VICRegLoss:
    - invariance: mean squared error over all N * D entries;
    - V = (v(z1) + v(z2)) / 2 with v(z) = mean_d relu(1 - sqrt(Var(z_d) + eps)), the
      variance *unbiased* (1 / (N - 1));
    - C = c(z1) + c(z2) (summed, not averaged) with c(z) = sum_{i != j} Cov(z)_ij^2 / D,
      covariance also unbiased.

    Args:
        z1: [N, D] projections of view 1 (N >= 2).
        z2: [N, D] projections of view 2.
        sim_weight: lambda, weight of the invariance term (lightly's lambda_param).
        var_weight: mu, weight of the variance term (lightly's mu_param).
        cov_weight: nu, weight of the covariance term (lightly's nu_param).
        eps: added to the variance before the square root, for stable gradients near 0.

    Returns:
        Scalar loss.
    """
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must both be [N, D] with the same shape, got {tuple(z1.shape)} "
            f"and {tuple(z2.shape)}"
        )
    if z1.shape[0] < 2:
        raise ValueError(f"batch size must be >= 2 for a variance, got {z1.shape[0]}")
    for name, value in (("sim_weight", sim_weight), ("var_weight", var_weight),
                        ("cov_weight", cov_weight)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    invariance = F.mse_loss(z1, z2)
    variance = 0.5 * (_variance_term(z1, eps) + _variance_term(z2, eps))
    covariance = _covariance_term(z1) + _covariance_term(z2)
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance
