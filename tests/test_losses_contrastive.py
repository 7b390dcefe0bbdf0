"""NT-Xent, SupCon and MoCo's InfoNCE against pytorch-metric-learning and closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning.losses import NTXentLoss, SupConLoss

from ssl_core.losses import (
    contrastive_loss,
    info_nce_with_queue,
)
from tests.loss_cases import assert_finite_grads, close, gen, randn, ref_supcon_loop

# --------------------------------------------------------------------------- contrastive


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_ntxent_two_views_matches_pml(temperature: float) -> None:
    n, d = 8, 16
    z1, z2 = randn(n, d, seed=1), randn(n, d, seed=2)
    z = torch.cat([z1, z2])
    ids = torch.cat([torch.arange(n), torch.arange(n)])
    ref = NTXentLoss(temperature=temperature)(z, ids)
    close(contrastive_loss(z, ids, temperature), ref)


def test_three_views_matches_supcon_and_loop_reference() -> None:
    # With 3 views each anchor has 2 positives. PML's NTXentLoss then differs from
    # L_out (its denominator is one positive + negatives, the other positive left out),
    # so the reference for the multi-view case is SupConLoss with instance ids plus the
    # loop formula above.
    n, d, t = 6, 12, 0.2
    z = randn(3 * n, d, seed=3)
    ids = torch.arange(n).repeat(3)
    ours = contrastive_loss(z, ids, t)
    close(ours, SupConLoss(temperature=t)(z, ids))
    close(ours, ref_supcon_loop(z, ids, t))


def test_unpaired_rows_are_negatives_only_matches_pml_ntxent() -> None:
    # Rows whose id occurs once are never anchors but still sit in every denominator,
    # as in PML's NT-Xent (which only forms pairs from matching labels).
    n, d, t = 5, 8, 0.3
    z = randn(3 * n, d, seed=4)
    ids = torch.cat([torch.arange(n), torch.arange(n), 100 + torch.arange(n)])
    ref_emb_loss = NTXentLoss(temperature=t)(z, ids)
    close(contrastive_loss(z, ids, t), ref_emb_loss)


def test_supcon_class_labels_matches_pml() -> None:
    m, d, t = 20, 10, 0.1
    z = randn(m, d, seed=5)
    labels = torch.randint(0, 4, (m,), generator=gen(6))
    close(contrastive_loss(z, labels, t), SupConLoss(temperature=t)(z, labels))


def test_supcon_singleton_class_is_left_out() -> None:
    # Label 9 appears once: that anchor has no positive and must not count in the mean.
    z = randn(7, 5, seed=7)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 9])
    ours = contrastive_loss(z, labels, 0.5)
    close(ours, ref_supcon_loop(z, labels, 0.5))
    close(ours, SupConLoss(temperature=0.5)(z, labels))


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_ntxent_aligned_orthogonal_closed_form(temperature: float) -> None:
    # z1 == z2 == orthonormal rows: s(i, pos) = 1, s(i, other) = 0 for the 2N - 2 others.
    n = 4
    basis = torch.eye(8, dtype=torch.float64)[:n] * 3.0  # scale: L2-normalised inside
    z = torch.cat([basis, basis])
    ids = torch.cat([torch.arange(n), torch.arange(n)])
    e = math.exp(1.0 / temperature)
    expected = -math.log(e / (e + (2 * n - 2) * math.exp(0.0)))
    close(contrastive_loss(z, ids, temperature), expected)


def test_contrastive_stable_at_tiny_temperature() -> None:
    z = randn(10, 4, seed=8, requires_grad=True)
    ids = torch.arange(5).repeat(2)
    loss = contrastive_loss(z, ids, 1e-3)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(z.grad).all()


def test_contrastive_float32_finite() -> None:
    z = torch.randn(12, 6, generator=gen(9), requires_grad=True)
    loss = contrastive_loss(z, torch.arange(6).repeat(2), 0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_contrastive_gradients_flow() -> None:
    z = randn(8, 6, seed=10, requires_grad=True)
    contrastive_loss(z, torch.arange(4).repeat(2), 0.2).backward()
    assert_finite_grads(z)


@pytest.mark.parametrize("bad_t", [0.0, -0.1])
def test_contrastive_bad_temperature(bad_t: float) -> None:
    with pytest.raises(ValueError, match=r"temperature must be > 0, got"):
        contrastive_loss(randn(4, 3), torch.tensor([0, 0, 1, 1]), bad_t)


def test_contrastive_bad_shapes_and_no_positive() -> None:
    with pytest.raises(ValueError, match=r"positive_ids must have shape \[M\]=\[4\]"):
        contrastive_loss(randn(4, 3), torch.tensor([0, 0, 1]), 0.1)
    with pytest.raises(ValueError, match=r"z must be 2-D"):
        contrastive_loss(randn(4), torch.tensor([0, 0, 1, 1]), 0.1)
    with pytest.raises(ValueError, match=r"no anchor has a positive"):
        contrastive_loss(randn(4, 3), torch.arange(4), 0.1)


# --------------------------------------------------------------------------- MoCo queue


def _pml_moco_reference(q, k, queue, t):
    # PML semantics: embeddings=q (labels 0..N-1), ref_emb=cat([k, queue]). Its default
    # "all pairs from labels" would also treat the *other* batch keys k_j (j != i) as
    # negatives, which MoCo does not do; so the pairs are given explicitly: positive
    # (q_i, k_i), negatives (q_i, queue_j) for every j.
    n, kk = q.shape[0], queue.shape[0]
    a1 = torch.arange(n)
    p = torch.arange(n)
    a2 = torch.arange(n).repeat_interleave(kk)
    neg = n + torch.arange(kk).repeat(n)
    return NTXentLoss(temperature=t)(
        q, indices_tuple=(a1, p, a2, neg), ref_emb=torch.cat([k, queue])
    )


def test_info_nce_with_queue_matches_pml() -> None:
    n, kk, d, t = 6, 20, 8, 0.2
    q, k, queue = randn(n, d, seed=11), randn(n, d, seed=12), randn(kk, d, seed=13)
    close(info_nce_with_queue(q, k, queue, t), _pml_moco_reference(q, k, queue, t))


def test_info_nce_with_queue_matches_cross_entropy_formula() -> None:
    n, kk, d, t = 5, 7, 4, 0.5
    q, k, queue = randn(n, d, seed=14), randn(n, d, seed=15), randn(kk, d, seed=16)
    qn, kn, un = (x / x.norm(dim=1, keepdim=True) for x in (q, k, queue))
    expected = 0.0
    for i in range(n):
        pos = math.exp(float(qn[i] @ kn[i]) / t)
        negs = sum(math.exp(float(qn[i] @ un[j]) / t) for j in range(kk))
        expected += -math.log(pos / (pos + negs)) / n
    close(info_nce_with_queue(q, k, queue, t), expected)


def test_info_nce_empty_queue_is_zero() -> None:
    q, k = randn(4, 3, seed=17), randn(4, 3, seed=18)
    empty = torch.zeros(0, 3, dtype=torch.float64)
    loss = info_nce_with_queue(q, k, empty, 0.2)
    close(loss, 0.0)
    # PML returns its "zero loss" when there are no negative pairs.
    close(loss, _pml_moco_reference(q, k, empty, 0.2))


def test_info_nce_gradients_flow() -> None:
    q = randn(4, 6, seed=19, requires_grad=True)
    k = randn(4, 6, seed=20, requires_grad=True)
    queue = randn(9, 6, seed=21, requires_grad=True)
    info_nce_with_queue(q, k, queue, 0.2).backward()
    assert_finite_grads(q, k, queue)


def test_info_nce_bad_inputs() -> None:
    q = randn(4, 3)
    with pytest.raises(ValueError, match=r"temperature must be > 0, got -1"):
        info_nce_with_queue(q, q, q, -1.0)
    with pytest.raises(ValueError, match=r"q and k must both be \[N, D\]"):
        info_nce_with_queue(q, randn(5, 3), q, 0.1)
    with pytest.raises(ValueError, match=r"queue must be \[K, D\] with D=3"):
        info_nce_with_queue(q, q, randn(6, 4), 0.1)
