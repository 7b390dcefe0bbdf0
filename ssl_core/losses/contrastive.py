"""Contrastive losses: NT-Xent / SupCon in one function, and MoCo's InfoNCE with a queue.

- SimCLR NT-Xent: Chen et al. 2020, "A Simple Framework for Contrastive Learning of
  Visual Representations", https://arxiv.org/abs/2002.05709
- SupCon (L_out): Khosla et al. 2020, "Supervised Contrastive Learning",
  https://arxiv.org/abs/2004.11362
- MoCo v2: He et al. 2020 / Chen et al. 2020, https://arxiv.org/abs/1911.05722,
  https://arxiv.org/abs/2003.04297
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def contrastive_loss(z: Tensor, positive_ids: Tensor, temperature: float) -> Tensor:
    """Supervised-contrastive loss (Khosla et al. 2020, L_out); SimCLR's NT-Xent as a special case.

    For each anchor i that has at least one positive,
        loss_i = -mean_{p in P(i)} log( exp(s_ip / T) / sum_{a != i} exp(s_ia / T) ),
    with s the cosine similarity; the result is the mean of loss_i over those anchors.
    Anchors without any positive are left out (they carry no signal).

    With ``positive_ids`` = item index (the views of one item share an id) and two views
    per item this is exactly SimCLR's NT-Xent; with class labels it is SupCon.

    Args:
        z: [M, D] embeddings of all views, e.g. ``cat([z1, z2])``; need not be normalised
            (they are L2-normalised here).
        positive_ids: [M] integer ids; rows i != j are positives iff their ids are equal.
        temperature: softmax temperature T > 0.

    Returns:
        Scalar loss.

    Raises:
        ValueError: temperature <= 0, bad shapes, or no anchor with a positive.
    """
    _check_temperature(temperature)
    if z.dim() != 2:
        raise ValueError(f"z must be 2-D [M, D], got shape {tuple(z.shape)}")
    if positive_ids.dim() != 1 or positive_ids.shape[0] != z.shape[0]:
        raise ValueError(
            f"positive_ids must have shape [M]=[{z.shape[0]}] to match z, "
            f"got {tuple(positive_ids.shape)}"
        )
    m = z.shape[0]
    self_mask = torch.eye(m, dtype=torch.bool, device=z.device)
    pos_mask = (positive_ids.unsqueeze(0) == positive_ids.unsqueeze(1)) & ~self_mask
    n_pos = pos_mask.sum(dim=1)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        raise ValueError(
            "no anchor has a positive: every positive_id occurs only once; "
            "each id needs at least 2 rows (e.g. two views of one item)"
        )

    zn = F.normalize(z, dim=1)
    logits = zn @ zn.T / temperature
    # Exclude a == i from the denominator with the most negative finite value rather
    # than -inf, so no inf * 0 NaNs can appear in the forward or backward pass.
    logits = logits.masked_fill(self_mask, torch.finfo(logits.dtype).min)
    # logsumexp subtracts the row max internally: stable for small temperatures.
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    # torch.where (not pos_mask * log_prob): the masked diagonal may be -inf in
    # log_prob, and 0 * -inf would be NaN.
    pos_log_prob = torch.where(pos_mask, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    per_anchor = -pos_log_prob[has_pos] / n_pos[has_pos].to(log_prob.dtype)
    return per_anchor.mean()


def info_nce_with_queue(q: Tensor, k: Tensor, queue: Tensor, temperature: float) -> Tensor:
    """InfoNCE with a queue of negatives, as in MoCo v2 (He et al. 2020).

    logits_i = [q_i . k_i, q_i . queue_1, ..., q_i . queue_K] / T on L2-normalised
    vectors; loss = cross entropy with target 0 (the key), averaged over the N queries.
    Only the queue supplies negatives: other keys of the batch are not used, as in MoCo.

    No stop-gradient here: the calling method detaches ``k`` (and the queue) itself so
    that the stop-gradient is visible in the method code.

    Args:
        q: [N, D] queries (online encoder).
        k: [N, D] keys (momentum encoder); k_i is the positive of q_i.
        queue: [K, D] negatives; K may be 0 (then the loss is 0).
        temperature: softmax temperature T > 0.

    Returns:
        Scalar loss.
    """
    _check_temperature(temperature)
    if q.dim() != 2 or q.shape != k.shape:
        raise ValueError(
            f"q and k must both be [N, D] with the same shape, got {tuple(q.shape)} "
            f"and {tuple(k.shape)}"
        )
    if queue.dim() != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(
            f"queue must be [K, D] with D={q.shape[1]}, got {tuple(queue.shape)}"
        )
    qn = F.normalize(q, dim=1)
    kn = F.normalize(k, dim=1)
    queue_n = F.normalize(queue, dim=1)
    l_pos = (qn * kn).sum(dim=1, keepdim=True)  # [N, 1]
    l_neg = qn @ queue_n.T  # [N, K]
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    # The positive sits in column 0 of every row.
    target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, target)
