"""Negative cosine, DINO, Barlow Twins and VICReg against lightly and analytic cases."""

from __future__ import annotations

import pytest
import torch
from lightly.loss import (
    BarlowTwinsLoss,
    DINOLoss,
    NegativeCosineSimilarity,
    VICRegLoss,
)

from ssl_core.losses import (
    DinoCenter,
    barlow_twins_loss,
    dino_loss,
    negative_cosine_similarity,
    teacher_temperature,
    vicreg_loss,
)
from tests.loss_cases import assert_finite_grads, close, gen, randn

# --------------------------------------------------------------------------- cosine


def test_negative_cosine_matches_lightly() -> None:
    p, z = randn(10, 7, seed=22), randn(10, 7, seed=23)
    close(negative_cosine_similarity(p, z), NegativeCosineSimilarity()(p, z))


def test_negative_cosine_identical_is_minus_one_and_grads() -> None:
    p = randn(6, 5, seed=24, requires_grad=True)
    close(negative_cosine_similarity(p, p.detach() * 2.5), -1.0)
    z = randn(6, 5, seed=25, requires_grad=True)
    negative_cosine_similarity(p, z).backward()
    assert_finite_grads(p, z)


def test_negative_cosine_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"p and z must both be \[N, D\]"):
        negative_cosine_similarity(randn(3, 4), randn(3, 5))


# --------------------------------------------------------------------------- DINO


def _views(n_views: int, n: int, k: int, seed: int, scale: float = 1.0):
    return [randn(n, k, seed=seed + v) * scale for v in range(n_views)]


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
    close(ours, expected)


def test_dino_nonzero_center_matches_lightly_and_center_update() -> None:
    n, k, st, tt = 5, 12, 0.1, 0.07
    teacher, student = _views(2, n, k, seed=50), _views(4, n, k, seed=60)
    center = DinoCenter(k, momentum=0.9).double()
    center.center.copy_(randn(1, k, seed=70))
    ref = DINOLoss(output_dim=k, warmup_teacher_temp=tt, teacher_temp=tt, student_temp=st)
    ref = ref.double()
    ref.center.copy_(center.center.view(1, 1, k))
    expected = ref(teacher, student, teacher_temp=tt)
    close(dino_loss(student, teacher, center.center, st, tt), expected)
    # lightly updated its centre with the mean over teacher views and batch.
    center.update(torch.stack(teacher).mean(dim=(0, 1)))
    close(center.center, ref.center.view(1, k))


def test_dino_pair_average_formula() -> None:
    # Independent formula: average over (i, j), i != j, of mean_n CE(p_t_i, p_s_j).
    n, k, st, tt = 4, 5, 0.2, 0.05
    teacher, student = _views(2, n, k, seed=80), _views(3, n, k, seed=90)
    c = randn(k, seed=99)
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
    close(dino_loss(student, teacher, c.view(1, k), st, tt), sum(terms) / len(terms))


def test_dino_gradients_flow_to_student_and_teacher() -> None:
    teacher = [v.requires_grad_(True) for v in _views(2, 4, 6, seed=100)]
    student = [v.requires_grad_(True) for v in _views(3, 4, 6, seed=110)]
    dino_loss(student, teacher, torch.zeros(6, dtype=torch.float64), 0.1, 0.04).backward()
    assert_finite_grads(*teacher, *student)


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
        dino_loss([*t, randn(3, 5)], t, c, 0.1, 0.04)
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
    z1 = randn(16, 8, seed=130) * scale
    z2 = (randn(16, 8, seed=131) * 3 + 1) * scale
    ref = BarlowTwinsLoss(lambda_param=lam, gather_distributed=False)(z1, z2)
    close(barlow_twins_loss(z1, z2, lam), ref)


def test_barlow_twins_matches_lightly_float32() -> None:
    z1 = torch.randn(32, 10, generator=gen(132))
    z2 = torch.randn(32, 10, generator=gen(133))
    ref = BarlowTwinsLoss(gather_distributed=False)(z1, z2)
    torch.testing.assert_close(barlow_twins_loss(z1, z2), ref, rtol=1e-5, atol=1e-6)


def test_barlow_twins_identical_whitened_is_near_zero() -> None:
    # Columns of a scaled orthogonal matrix with zero column means: after
    # standardisation C = I up to the BatchNorm eps, so the loss is ~ D * eps^2.
    n, d = 32, 6
    x = randn(n, d, seed=134)
    x = x - x.mean(dim=0)
    qmat, _ = torch.linalg.qr(x)  # orthonormal, zero-mean columns (span of centred x)
    z = qmat * 5.0
    assert float(barlow_twins_loss(z, z)) < 1e-6
    # ... while random, unrelated views are far from 0.
    assert float(barlow_twins_loss(z, randn(n, d, seed=135))) > 1.0


def test_barlow_twins_gradients_and_validation() -> None:
    z1 = randn(8, 4, seed=136, requires_grad=True)
    z2 = randn(8, 4, seed=137, requires_grad=True)
    barlow_twins_loss(z1, z2).backward()
    assert_finite_grads(z1, z2)
    with pytest.raises(ValueError, match=r"z1 and z2 must both be \[N, D\]"):
        barlow_twins_loss(randn(8, 4), randn(8, 5))
    with pytest.raises(ValueError, match=r"lambda_offdiag must be >= 0, got -1"):
        barlow_twins_loss(randn(8, 4), randn(8, 4), -1.0)
    with pytest.raises(ValueError, match=r"batch size must be >= 2"):
        barlow_twins_loss(randn(1, 4), randn(1, 4))


# --------------------------------------------------------------------------- VICReg


@pytest.mark.parametrize(
    "weights", [(25.0, 25.0, 1.0), (1.0, 2.0, 3.0)]
)
def test_vicreg_matches_lightly(weights: tuple[float, float, float]) -> None:
    lam, mu, nu = weights
    z1, z2 = randn(12, 8, seed=140) * 0.3, randn(12, 8, seed=141)
    ref = VICRegLoss(lambda_param=lam, mu_param=mu, nu_param=nu)(z1, z2)
    close(vicreg_loss(z1, z2, lam, mu, nu), ref)


def test_vicreg_identical_inputs_have_zero_invariance() -> None:
    z = randn(10, 5, seed=142)
    # With sim_weight switched on or off the value must not change: invariance is 0.
    close(vicreg_loss(z, z, sim_weight=25.0), vicreg_loss(z, z, sim_weight=0.0))
    # Variance and covariance terms only, written out: both views identical.
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (z.shape[0] - 1)
    std = torch.sqrt(torch.diagonal(cov) + 1e-4)
    var_term = torch.clamp(1 - std, min=0).mean()
    cov_term = 2 * (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / z.shape[1]
    close(vicreg_loss(z, z), 25.0 * var_term + 1.0 * cov_term)


def test_vicreg_gradients_and_validation() -> None:
    z1 = randn(8, 4, seed=143, requires_grad=True)
    z2 = randn(8, 4, seed=144, requires_grad=True)
    vicreg_loss(z1 * 0.1, z2).backward()  # small z1: variance hinge active, too
    assert_finite_grads(z1, z2)
    with pytest.raises(ValueError, match=r"batch size must be >= 2"):
        vicreg_loss(randn(1, 4), randn(1, 4))
    with pytest.raises(ValueError, match=r"z1 and z2 must both be \[N, D\]"):
        vicreg_loss(randn(4, 4), randn(5, 4))
    with pytest.raises(ValueError, match=r"cov_weight must be >= 0, got -1"):
        vicreg_loss(randn(4, 4), randn(4, 4), cov_weight=-1.0)
