"""Tests for ssl_core.losses against pytorch-metric-learning, lightly and closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from lightly.loss import (
    BarlowTwinsLoss,
    DINOLoss,
    NegativeCosineSimilarity,
    VICRegLoss,
)
from pytorch_metric_learning.losses import NTXentLoss, SupConLoss

from ssl_core.losses import (
    DinoCenter,
    barlow_twins_loss,
    contrastive_loss,
    dino_loss,
    info_nce_with_queue,
    negative_cosine_similarity,
    teacher_temperature,
    vicreg_loss,
)

RTOL = 1e-5


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int = 0, requires_grad: bool = False) -> torch.Tensor:
    x = torch.randn(*shape, generator=_gen(seed), dtype=torch.float64)
    return x.requires_grad_(requires_grad)


def _close(a: torch.Tensor, b: torch.Tensor | float) -> None:
    b = torch.as_tensor(b, dtype=a.dtype)
    torch.testing.assert_close(a.detach(), b.detach(), rtol=RTOL, atol=1e-10)


def _assert_finite_grads(*xs: torch.Tensor) -> None:
    for x in xs:
        assert x.grad is not None
        assert torch.isfinite(x.grad).all()
        assert x.grad.abs().sum() > 0


def _ref_supcon_loop(z: torch.Tensor, ids: torch.Tensor, t: float) -> float:
    """Khosla et al. L_out written out with Python loops, as an independent reference."""
    zn = [v / math.sqrt(float(v @ v)) for v in z]
    losses = []
    for i in range(len(zn)):
        pos = [p for p in range(len(zn)) if p != i and ids[p] == ids[i]]
        if not pos:
            continue
        denom = sum(math.exp(float(zn[i] @ zn[a]) / t) for a in range(len(zn)) if a != i)
        losses.append(
            -sum(math.log(math.exp(float(zn[i] @ zn[p]) / t) / denom) for p in pos) / len(pos)
        )
    return sum(losses) / len(losses)


# --------------------------------------------------------------------------- contrastive


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_ntxent_two_views_matches_pml(temperature: float) -> None:
    n, d = 8, 16
    z1, z2 = _randn(n, d, seed=1), _randn(n, d, seed=2)
    z = torch.cat([z1, z2])
    ids = torch.cat([torch.arange(n), torch.arange(n)])
    ref = NTXentLoss(temperature=temperature)(z, ids)
    _close(contrastive_loss(z, ids, temperature), ref)


def test_three_views_matches_supcon_and_loop_reference() -> None:
    # With 3 views each anchor has 2 positives. PML's NTXentLoss then differs from
    # L_out (its denominator is one positive + negatives, the other positive left out),
    # so the reference for the multi-view case is SupConLoss with instance ids plus the
    # loop formula above.
    n, d, t = 6, 12, 0.2
    z = _randn(3 * n, d, seed=3)
    ids = torch.arange(n).repeat(3)
    ours = contrastive_loss(z, ids, t)
    _close(ours, SupConLoss(temperature=t)(z, ids))
    _close(ours, _ref_supcon_loop(z, ids, t))


def test_unpaired_rows_are_negatives_only_matches_pml_ntxent() -> None:
    # Rows whose id occurs once are never anchors but still sit in every denominator,
    # as in PML's NT-Xent (which only forms pairs from matching labels).
    n, d, t = 5, 8, 0.3
    z = _randn(3 * n, d, seed=4)
    ids = torch.cat([torch.arange(n), torch.arange(n), 100 + torch.arange(n)])
    ref_emb_loss = NTXentLoss(temperature=t)(z, ids)
    _close(contrastive_loss(z, ids, t), ref_emb_loss)


def test_supcon_class_labels_matches_pml() -> None:
    m, d, t = 20, 10, 0.1
    z = _randn(m, d, seed=5)
    labels = torch.randint(0, 4, (m,), generator=_gen(6))
    _close(contrastive_loss(z, labels, t), SupConLoss(temperature=t)(z, labels))


def test_supcon_singleton_class_is_left_out() -> None:
    # Label 9 appears once: that anchor has no positive and must not count in the mean.
    z = _randn(7, 5, seed=7)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 9])
    ours = contrastive_loss(z, labels, 0.5)
    _close(ours, _ref_supcon_loop(z, labels, 0.5))
    _close(ours, SupConLoss(temperature=0.5)(z, labels))


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_ntxent_aligned_orthogonal_closed_form(temperature: float) -> None:
    # z1 == z2 == orthonormal rows: s(i, pos) = 1, s(i, other) = 0 for the 2N - 2 others.
    n = 4
    basis = torch.eye(8, dtype=torch.float64)[:n] * 3.0  # scale: L2-normalised inside
    z = torch.cat([basis, basis])
    ids = torch.cat([torch.arange(n), torch.arange(n)])
    e = math.exp(1.0 / temperature)
    expected = -math.log(e / (e + (2 * n - 2) * math.exp(0.0)))
    _close(contrastive_loss(z, ids, temperature), expected)


def test_contrastive_stable_at_tiny_temperature() -> None:
    z = _randn(10, 4, seed=8, requires_grad=True)
    ids = torch.arange(5).repeat(2)
    loss = contrastive_loss(z, ids, 1e-3)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(z.grad).all()


def test_contrastive_float32_finite() -> None:
    z = torch.randn(12, 6, generator=_gen(9), requires_grad=True)
    loss = contrastive_loss(z, torch.arange(6).repeat(2), 0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_contrastive_gradients_flow() -> None:
    z = _randn(8, 6, seed=10, requires_grad=True)
    contrastive_loss(z, torch.arange(4).repeat(2), 0.2).backward()
    _assert_finite_grads(z)


@pytest.mark.parametrize("bad_t", [0.0, -0.1])
def test_contrastive_bad_temperature(bad_t: float) -> None:
    with pytest.raises(ValueError, match=r"temperature must be > 0, got"):
        contrastive_loss(_randn(4, 3), torch.tensor([0, 0, 1, 1]), bad_t)


def test_contrastive_bad_shapes_and_no_positive() -> None:
    with pytest.raises(ValueError, match=r"positive_ids must have shape \[M\]=\[4\]"):
        contrastive_loss(_randn(4, 3), torch.tensor([0, 0, 1]), 0.1)
    with pytest.raises(ValueError, match=r"z must be 2-D"):
        contrastive_loss(_randn(4), torch.tensor([0, 0, 1, 1]), 0.1)
    with pytest.raises(ValueError, match=r"no anchor has a positive"):
        contrastive_loss(_randn(4, 3), torch.arange(4), 0.1)


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
    q, k, queue = _randn(n, d, seed=11), _randn(n, d, seed=12), _randn(kk, d, seed=13)
    _close(info_nce_with_queue(q, k, queue, t), _pml_moco_reference(q, k, queue, t))


def test_info_nce_with_queue_matches_cross_entropy_formula() -> None:
    n, kk, d, t = 5, 7, 4, 0.5
    q, k, queue = _randn(n, d, seed=14), _randn(n, d, seed=15), _randn(kk, d, seed=16)
    qn, kn, un = (x / x.norm(dim=1, keepdim=True) for x in (q, k, queue))
    expected = 0.0
    for i in range(n):
        pos = math.exp(float(qn[i] @ kn[i]) / t)
        negs = sum(math.exp(float(qn[i] @ un[j]) / t) for j in range(kk))
        expected += -math.log(pos / (pos + negs)) / n
    _close(info_nce_with_queue(q, k, queue, t), expected)


def test_info_nce_empty_queue_is_zero() -> None:
    q, k = _randn(4, 3, seed=17), _randn(4, 3, seed=18)
    empty = torch.zeros(0, 3, dtype=torch.float64)
    loss = info_nce_with_queue(q, k, empty, 0.2)
    _close(loss, 0.0)
    # PML returns its "zero loss" when there are no negative pairs.
    _close(loss, _pml_moco_reference(q, k, empty, 0.2))


def test_info_nce_gradients_flow() -> None:
    q = _randn(4, 6, seed=19, requires_grad=True)
    k = _randn(4, 6, seed=20, requires_grad=True)
    queue = _randn(9, 6, seed=21, requires_grad=True)
    info_nce_with_queue(q, k, queue, 0.2).backward()
    _assert_finite_grads(q, k, queue)


def test_info_nce_bad_inputs() -> None:
    q = _randn(4, 3)
    with pytest.raises(ValueError, match=r"temperature must be > 0, got -1"):
        info_nce_with_queue(q, q, q, -1.0)
    with pytest.raises(ValueError, match=r"q and k must both be \[N, D\]"):
        info_nce_with_queue(q, _randn(5, 3), q, 0.1)
    with pytest.raises(ValueError, match=r"queue must be \[K, D\] with D=3"):
        info_nce_with_queue(q, q, _randn(6, 4), 0.1)


# --------------------------------------------------------------------------- cosine


def test_negative_cosine_matches_lightly() -> None:
    p, z = _randn(10, 7, seed=22), _randn(10, 7, seed=23)
    _close(negative_cosine_similarity(p, z), NegativeCosineSimilarity()(p, z))


def test_negative_cosine_identical_is_minus_one_and_grads() -> None:
    p = _randn(6, 5, seed=24, requires_grad=True)
    _close(negative_cosine_similarity(p, p.detach() * 2.5), -1.0)
    z = _randn(6, 5, seed=25, requires_grad=True)
    negative_cosine_similarity(p, z).backward()
    _assert_finite_grads(p, z)


def test_negative_cosine_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"p and z must both be \[N, D\]"):
        negative_cosine_similarity(_randn(3, 4), _randn(3, 5))


# --------------------------------------------------------------------------- DINO


def _views(n_views: int, n: int, k: int, seed: int, scale: float = 1.0):
    return [_randn(n, k, seed=seed + v) * scale for v in range(n_views)]


@pytest.mark.parametrize("n_local", [0, 2])
def test_dino_zero_center_matches_lightly(n_local: int) -> None:
    n, k, st, tt = 6, 16, 0.1, 0.04
    teacher = _views(2, n, k, seed=30)
    student = _views(2 + n_local, n, k, seed=40)
    ref = DINOLoss(output_dim=k, warmup_teacher_temp=tt, teacher_temp=tt, student_temp=st)
    ref = ref.double()
    # lightly computes the loss with its current (zero) centre, then updates the centre.
    expected = ref(teacher, student, teacher_temp=tt)
    ours = dino_loss(student, teacher, torch.zeros(k, dtype=torch.float64), st, tt)
    _close(ours, expected)


def test_dino_nonzero_center_matches_lightly_and_center_update() -> None:
    n, k, st, tt = 5, 12, 0.1, 0.07
    teacher, student = _views(2, n, k, seed=50), _views(4, n, k, seed=60)
    center = DinoCenter(k, momentum=0.9).double()
    center.center.copy_(_randn(1, k, seed=70))
    ref = DINOLoss(output_dim=k, warmup_teacher_temp=tt, teacher_temp=tt, student_temp=st)
    ref = ref.double()
    ref.center.copy_(center.center.view(1, 1, k))
    expected = ref(teacher, student, teacher_temp=tt)
    _close(dino_loss(student, teacher, center.center, st, tt), expected)
    # lightly updated its centre with the mean over teacher views and batch.
    center.update(torch.stack(teacher).mean(dim=(0, 1)))
    _close(center.center, ref.center.view(1, k))


def test_dino_pair_average_formula() -> None:
    # Independent formula: average over (i, j), i != j, of mean_n CE(p_t_i, p_s_j).
    n, k, st, tt = 4, 5, 0.2, 0.05
    teacher, student = _views(2, n, k, seed=80), _views(3, n, k, seed=90)
    c = _randn(k, seed=99)
    terms = []
    for i, t in enumerate(teacher):
        pt = torch.exp((t - c) / tt)
        pt = pt / pt.sum(dim=1, keepdim=True)
        for j, s in enumerate(student):
            if i != j:
                ps = torch.exp(s / st)
                ps = ps / ps.sum(dim=1, keepdim=True)
                terms.append(float(-(pt * ps.log()).sum(dim=1).mean()))
    assert len(terms) == 2 * 3 - 2
    _close(dino_loss(student, teacher, c.view(1, k), st, tt), sum(terms) / len(terms))


def test_dino_gradients_flow_to_student_and_teacher() -> None:
    teacher = [v.requires_grad_(True) for v in _views(2, 4, 6, seed=100)]
    student = [v.requires_grad_(True) for v in _views(3, 4, 6, seed=110)]
    dino_loss(student, teacher, torch.zeros(6, dtype=torch.float64), 0.1, 0.04).backward()
    _assert_finite_grads(*teacher, *student)


def test_dino_bad_inputs() -> None:
    t = _views(2, 3, 4, seed=120)
    c = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"teacher_temp must be > 0, got 0"):
        dino_loss(t, t, c, 0.1, 0.0)
    with pytest.raises(ValueError, match=r"student_temp must be > 0, got -0.1"):
        dino_loss(t, t, c, -0.1, 0.04)
    with pytest.raises(ValueError, match=r"center must be \[K\] or \[1, K\] with K=4"):
        dino_loss(t, t, torch.zeros(5), 0.1, 0.04)
    with pytest.raises(ValueError, match=r"share one shape"):
        dino_loss([*t, _randn(3, 5)], t, c, 0.1, 0.04)
    with pytest.raises(ValueError, match=r"at least one \(teacher view, student view\) pair"):
        dino_loss(t[:1], t[:1], c, 0.1, 0.04)


def test_dino_center_ema_formula() -> None:
    m = 0.8
    center = DinoCenter(3, momentum=m)
    assert center.center.shape == (1, 3)
    torch.testing.assert_close(center.center, torch.zeros(1, 3))
    b1, b2 = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([[3.0, 0.0, -1.0]])
    center.update(b1)
    center.update(b2)
    expected = m * ((1 - m) * b1.view(1, 3)) + (1 - m) * b2
    torch.testing.assert_close(center.center, expected)
    assert "center" in dict(center.named_buffers())


def test_dino_center_no_grad_and_validation() -> None:
    center = DinoCenter(2, momentum=0.5)
    b = torch.ones(2, requires_grad=True)
    center.update(b)
    assert not center.center.requires_grad
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got"):
            DinoCenter(2, momentum=bad)
    with pytest.raises(ValueError, match=r"batch_center must be \[2\] or \[1, 2\]"):
        center.update(torch.ones(3))


@pytest.mark.parametrize("epoch", [0.0, 2.5, 5.0, 9.99, 10.0, 30.0])
def test_teacher_temperature_linear_warmup(epoch: float) -> None:
    w, final, warm = 0.04, 0.07, 10.0
    expected = w + (final - w) * epoch / warm if epoch < warm else final
    assert teacher_temperature(epoch, w, final, warm) == pytest.approx(expected, rel=1e-12)


def test_teacher_temperature_no_warmup_and_validation() -> None:
    assert teacher_temperature(0.0, 0.04, 0.07, 0) == pytest.approx(0.07)
    with pytest.raises(ValueError, match=r"warmup_epochs must be >= 0, got -1"):
        teacher_temperature(0.0, 0.04, 0.07, -1)
    with pytest.raises(ValueError, match=r"teacher_temp must be > 0, got 0"):
        teacher_temperature(1.0, 0.04, 0.0, 5)


# --------------------------------------------------------------------------- Barlow Twins


@pytest.mark.parametrize("lam", [5e-3, 0.1])
@pytest.mark.parametrize("scale", [1.0, 0.003])
def test_barlow_twins_matches_lightly(lam: float, scale: float) -> None:
    # scale 0.003: batch variance ~1e-5, the size of BatchNorm's eps, so a missing eps
    # or an unbiased variance would show far beyond rtol.
    z1 = _randn(16, 8, seed=130) * scale
    z2 = (_randn(16, 8, seed=131) * 3 + 1) * scale
    ref = BarlowTwinsLoss(lambda_param=lam, gather_distributed=False)(z1, z2)
    _close(barlow_twins_loss(z1, z2, lam), ref)


def test_barlow_twins_matches_lightly_float32() -> None:
    z1 = torch.randn(32, 10, generator=_gen(132))
    z2 = torch.randn(32, 10, generator=_gen(133))
    ref = BarlowTwinsLoss(gather_distributed=False)(z1, z2)
    torch.testing.assert_close(barlow_twins_loss(z1, z2), ref, rtol=1e-5, atol=1e-6)


def test_barlow_twins_identical_whitened_is_near_zero() -> None:
    # Columns of a scaled orthogonal matrix with zero column means: after
    # standardisation C = I up to the BatchNorm eps, so the loss is ~ D * eps^2.
    n, d = 32, 6
    x = _randn(n, d, seed=134)
    x = x - x.mean(dim=0)
    qmat, _ = torch.linalg.qr(x)  # orthonormal, zero-mean columns (span of centred x)
    z = qmat * 5.0
    assert float(barlow_twins_loss(z, z)) < 1e-6
    # ... while random, unrelated views are far from 0.
    assert float(barlow_twins_loss(z, _randn(n, d, seed=135))) > 1.0


def test_barlow_twins_gradients_and_validation() -> None:
    z1 = _randn(8, 4, seed=136, requires_grad=True)
    z2 = _randn(8, 4, seed=137, requires_grad=True)
    barlow_twins_loss(z1, z2).backward()
    _assert_finite_grads(z1, z2)
    with pytest.raises(ValueError, match=r"z1 and z2 must both be \[N, D\]"):
        barlow_twins_loss(_randn(8, 4), _randn(8, 5))
    with pytest.raises(ValueError, match=r"lambda_offdiag must be >= 0, got -1"):
        barlow_twins_loss(_randn(8, 4), _randn(8, 4), -1.0)
    with pytest.raises(ValueError, match=r"batch size must be >= 2"):
        barlow_twins_loss(_randn(1, 4), _randn(1, 4))


# --------------------------------------------------------------------------- VICReg


@pytest.mark.parametrize(
    "weights", [(25.0, 25.0, 1.0), (1.0, 2.0, 3.0)]
)
def test_vicreg_matches_lightly(weights: tuple[float, float, float]) -> None:
    lam, mu, nu = weights
    z1, z2 = _randn(12, 8, seed=140) * 0.3, _randn(12, 8, seed=141)
    ref = VICRegLoss(lambda_param=lam, mu_param=mu, nu_param=nu)(z1, z2)
    _close(vicreg_loss(z1, z2, lam, mu, nu), ref)


def test_vicreg_identical_inputs_have_zero_invariance() -> None:
    z = _randn(10, 5, seed=142)
    # With sim_weight switched on or off the value must not change: invariance is 0.
    _close(vicreg_loss(z, z, sim_weight=25.0), vicreg_loss(z, z, sim_weight=0.0))
    # Variance and covariance terms only, written out: both views identical.
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (z.shape[0] - 1)
    std = torch.sqrt(torch.diagonal(cov) + 1e-4)
    var_term = torch.clamp(1 - std, min=0).mean()
    cov_term = 2 * (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / z.shape[1]
    _close(vicreg_loss(z, z), 25.0 * var_term + 1.0 * cov_term)


def test_vicreg_gradients_and_validation() -> None:
    z1 = _randn(8, 4, seed=143, requires_grad=True)
    z2 = _randn(8, 4, seed=144, requires_grad=True)
    vicreg_loss(z1 * 0.1, z2).backward()  # small z1: variance hinge active, too
    _assert_finite_grads(z1, z2)
    with pytest.raises(ValueError, match=r"batch size must be >= 2"):
        vicreg_loss(_randn(1, 4), _randn(1, 4))
    with pytest.raises(ValueError, match=r"z1 and z2 must both be \[N, D\]"):
        vicreg_loss(_randn(4, 4), _randn(5, 4))
    with pytest.raises(ValueError, match=r"cov_weight must be >= 0, got -1"):
        vicreg_loss(_randn(4, 4), _randn(4, 4), cov_weight=-1.0)
