"""Collapse is visible: emb_std against its analytic values, and SimSiam without its
stop-gradient collapsing on the embedded bird songs while SimSiam with it does not."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_core.eval.collapse import effective_rank, emb_std
from ssl_core.trainer import train
from tests.tiny import tiny_config


@pytest.mark.parametrize("dim", [16, 128])
def test_emb_std_is_one_over_sqrt_d_for_isotropic_and_zero_for_collapsed(dim) -> None:
    z = torch.randn(20000, dim, generator=torch.Generator().manual_seed(dim))
    assert emb_std(z) == pytest.approx(1 / math.sqrt(dim), rel=0.05)
    collapsed = torch.randn(1, dim).repeat(500, 1)
    assert emb_std(collapsed) < 1e-6


def _simsiam(stop_gradient: bool, run_dir) -> list[dict]:
    # The projector's output BN is removed in both arms: with it, BN renormalises every
    # embedding dimension each step, which delays the collapse by many epochs (SimSiam's
    # paper trains ~100 epochs); without it the mechanism shows within a few epochs.
    cfg = tiny_config("simsiam", run_dir, epochs=4, steps=0, extra=(
        f"method.stop_gradient={str(stop_gradient).lower()}", "model.proj_output_bn=off",
        "optim.name=sgd", "optim.lr=0.05", "eval.features=projector", "eval.linear_probe=never",
        "eval.clustering=false"))
    reports: list[dict] = []
    train(cfg, report=lambda m, _ckpt: reports.append(m), run_dir=run_dir)
    return reports


def test_simsiam_collapses_without_stop_gradient(tmp_path, birdsong_root) -> None:
    dim = 32  # tiny_config's embedding_dim
    with_sg = _simsiam(True, tmp_path / "sg")
    without_sg = _simsiam(False, tmp_path / "no_sg")
    healthy = 1 / math.sqrt(dim)
    # With the stop-gradient the embeddings stay spread out (near 1/sqrt(d)) ...
    assert with_sg[-1]["emb_std"] > 0.6 * healthy
    # ... without it the loss reaches the trivial -1 and emb_std falls toward 0.
    assert without_sg[-1]["train_loss"] < -0.97
    assert without_sg[-1]["emb_std"] < 0.25 * healthy
    assert without_sg[-1]["emb_std"] < without_sg[0]["emb_std"]
    assert without_sg[-1]["eff_rank"] < 0.5 * with_sg[-1]["eff_rank"]


def test_effective_rank_separates_full_rank_from_rank_one() -> None:
    z = torch.randn(2000, 32, generator=torch.Generator().manual_seed(0))
    assert effective_rank(z) > 28
    assert effective_rank(z[:, :1] * torch.randn(1, 32)) < 1.5
