"""Collapse diagnostics of an embedding batch.

- emb_std (SimSiam, Chen & He 2021, Sec. 4.1): std over the batch of the L2-normalised
  embeddings, averaged over dimensions; ~1/sqrt(D) for isotropic embeddings, 0 when every
  input maps to the same vector.
- eff_rank (RankMe, Garrido et al. 2023, Eq. 1): exp of the entropy of the normalised
  singular values; ~D for full-rank, 1 for rank-1 embeddings.
- rankme (RankMe, Garrido et al. 2023, "RankMe: Assessing the downstream performance of
  pretrained self-supervised representations by their rank", ICML): the same formula, on what
  the paper measures: the *backbone* representation (not the projector's embedding) of as many
  items as the run has at hand (the train split's labelled items and val, here), so it is a
  label-free objective. eff_rank stays the diagnostic of the evaluation features of val alone.
- align / uniform (Wang & Isola 2020, Eqs. 2-3): distance between positive pairs and the log
  of the mean Gaussian potential between all pairs on the hypersphere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# torch.pdist over 4096 rows makes 8.4M pairs: cheap on any device, and enough for a stable
# estimate; larger batches are subsampled with a fixed generator so the value is repeatable.
UNIFORMITY_MAX_ROWS = 4096


def _as_matrix(z: torch.Tensor, name: str, min_rows: int = 1) -> torch.Tensor:
    """Detached [N, D] tensor in float32/float64 (SVD and pdist do not support half)."""
    if z.dim() != 2 or z.shape[0] < min_rows or z.shape[1] == 0:
        raise ValueError(
            f"{name} must be [N, D] with N >= {min_rows} and D >= 1, got {tuple(z.shape)}"
        )
    z = z.detach()
    return z if z.dtype in (torch.float32, torch.float64) else z.float()


def emb_std(z: torch.Tensor) -> float:
    """Mean over dimensions of the per-dimension std (unbiased, over N) of normalised z: [N, D]."""
    z = F.normalize(_as_matrix(z, "z", min_rows=2), dim=1)
    return z.std(dim=0).mean().item()


def effective_rank(z: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe of z: [N, D]: exp(-sum_k p_k log p_k) with p_k = sigma_k / sum(sigma) + eps.

    z is not centred, as in the paper. An all-zero z has rank 0 and returns 0.0 (the formula
    would divide by zero).
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    sigma = torch.linalg.svdvals(_as_matrix(z, "z"))
    total = sigma.sum()
    if total <= 0:
        return 0.0
    p = sigma / total + eps
    return torch.exp(-(p * torch.log(p)).sum()).item()


def rankme(representations: torch.Tensor) -> float:
    """RankMe of backbone representations ``[N, D]`` (Garrido et al. 2023, Eq. 1): a label-free score.

    Why RankMe rather than alpha-ReQ (Agrawal et al. 2022) or LiDAR (Thilak et al. 2024): it has
    no hyperparameter (alpha-ReQ fits a power law to a chosen range of the eigenspectrum) and no
    method-specific input (LiDAR needs several augmented views per item and the method's own
    surrogate classes); one SVD of features the evaluation already has. The paper validates it
    across SimCLR, VICReg, BYOL, DINO and Barlow Twins, within one method's hyperparameters,
    which is what a search compares. The value is at most ``min(N, D)``: with fewer items than
    feature dimensions (birdsong: about 380 items, resnet10t: 512) the bound is N, the same for
    every trial of a search, so the ranking is still comparable.
    """
    return effective_rank(representations)


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """Mean ||z1_i - z2_i||_2^alpha over positive pairs of normalised z1, z2: [N, D]."""
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    a, b = _as_matrix(z1, "z1"), _as_matrix(z2, "z2")
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = F.normalize(a, dim=1), F.normalize(b.to(a.device, a.dtype), dim=1)
    return (a - b).norm(dim=1).pow(alpha).mean().item()


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """log mean_{i<j} exp(-t ||z_i - z_j||^2) of normalised z: [N, D] (N >= 2).

    Uses at most 4096 rows, chosen by a generator with a fixed seed. logsumexp keeps the
    value finite for large t.
    """
    if not t > 0:
        raise ValueError(f"t must be > 0, got {t}")
    z = F.normalize(_as_matrix(z, "z", min_rows=2), dim=1)
    if z.shape[0] > UNIFORMITY_MAX_ROWS:
        keep = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(0))
        z = z[keep[:UNIFORMITY_MAX_ROWS].to(z.device)]
    sq = torch.pdist(z).pow(2)
    log_n = torch.log(torch.tensor(float(sq.numel()), dtype=sq.dtype, device=sq.device))
    return (torch.logsumexp(-t * sq, dim=0) - log_n).item()


def collapse_metrics(z: torch.Tensor, z_other_view: torch.Tensor | None = None) -> dict[str, float]:
    """{"emb_std", "eff_rank", "uniform"} of z: [N, D], plus "align" with z_other_view: [N, D]."""
    out = {"emb_std": emb_std(z), "eff_rank": effective_rank(z), "uniform": uniformity(z)}
    if z_other_view is not None:
        out["align"] = alignment(z, z_other_view)
    return out
