"""Optimisers and the warm-up + cosine schedule against their formulas."""

from __future__ import annotations

import math

import pytest
import torch
from timm.optim import Lars

from ssl_core.config import OptimConfig
from ssl_core.methods.base import make_target
from ssl_core.optim import build_optimizer, build_scheduler, effective_lr


def _model() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    model.target = make_target(torch.nn.Linear(4, 3))[0]  # a frozen EMA copy: never optimised
    return model


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("lars", Lars), ("adamw", torch.optim.AdamW)])
def test_optimiser_kind_lr_and_weight_decay_groups(name, cls) -> None:
    model = _model()
    opt = build_optimizer(model, OptimConfig(name=name, lr=0.4, weight_decay=1e-4), global_batch=128)
    assert isinstance(opt, cls)
    expected = 0.4 * (128 / 256) ** 0.5 if name == "adamw" else 0.2  # square root for AdamW, linear otherwise
    assert all(g["lr"] == pytest.approx(expected) for g in opt.param_groups)
    optimised = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(p) in optimised for p in model.target.parameters())
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    # Weight matrices decay; biases and BN parameters do not (SimCLR's LARS exclusion).
    assert decayed == {id(model[0].weight), id(model[2].weight)}
    if name == "sgd":
        assert opt.param_groups[0]["momentum"] == 0.9 and not opt.param_groups[0]["nesterov"]


def test_warmup_then_cosine_matches_formula() -> None:
    cfg = OptimConfig(name="sgd", lr=0.256, scale_lr_with_batch=False, warmup_epochs=2, min_lr_ratio=0.1)
    opt = build_optimizer(torch.nn.Linear(2, 2), cfg, global_batch=256)
    sched = build_scheduler(opt, cfg, steps_per_epoch=5, epochs=10)
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    for step, lr in enumerate(lrs):
        if step < 10:
            expected = 0.256 * (step + 1) / 10
        else:
            progress = (step - 10) / 40
            expected = 0.256 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        assert lr == pytest.approx(expected, rel=1e-9), step
    assert effective_lr(OptimConfig(name="sgd", lr=0.3), 512) == pytest.approx(0.6)


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_fused_step_takes_the_same_steps_as_the_default(name) -> None:
    """The fused kernel (forced on the CPU here; the default on CUDA) updates exactly like the
    foreach path: the same parameters after a few steps, and the optimiser says it is fused."""
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))

    def mlp() -> torch.nn.Module:
        # No BatchNorm here: a bias right before BN gets a ~1e-9 gradient (BN removes it), and
        # Adam's m / (sqrt(v) + eps) on such noise is ill-conditioned: any two correct
        # implementations disagree there. Everything else must agree to float rounding.
        return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

    models, params = [mlp(), mlp()], []
    models[1].load_state_dict(models[0].state_dict())
    initial = torch.cat([p.detach().clone().flatten() for p in models[0].parameters()])
    for model, fused in zip(models, (False, True)):
        opt = build_optimizer(model, OptimConfig(name=name, lr=0.1, weight_decay=1e-2), 256, fused=fused)
        assert bool(opt.defaults.get("fused")) is fused
        for _ in range(5):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.allclose(params[0], initial)  # the steps moved the parameters
    torch.testing.assert_close(params[1], params[0], rtol=1e-6, atol=1e-7)


def test_fused_step_by_default_only_on_cuda_and_never_for_lars() -> None:
    from ssl_core.optim import uses_fused_step

    cpu_model = _model()
    assert not uses_fused_step(cpu_model, OptimConfig(name="adamw"))  # CPU: the foreach path
    assert not uses_fused_step(cpu_model, OptimConfig(name="lars"), fused=True)  # timm's LARS has none
    assert not build_optimizer(cpu_model, OptimConfig(name="adamw"), 256).defaults.get("fused")
    if torch.cuda.is_available():  # on a GPU machine: the default path is the fused one
        gpu_model = _model().cuda()
        assert build_optimizer(gpu_model, OptimConfig(name="adamw"), 256).defaults["fused"]


@pytest.mark.parametrize("name, batch, expected", [
    ("sgd", 512, 0.6), ("lars", 64, 0.075), ("adamw", 64, 0.15), ("adamw", 1024, 0.6), ("adamw", 256, 0.3)])
def test_rate_follows_the_batch_linearly_for_sgd_and_lars_by_square_root_for_adamw(name, batch, expected) -> None:
    """Goyal et al. 2017 (linear) for SGD / LARS; Malladi et al. 2022 (square root) for AdamW."""
    assert effective_lr(OptimConfig(name=name, lr=0.3), batch) == pytest.approx(expected)
    assert effective_lr(OptimConfig(name=name, lr=0.3, scale_lr_with_batch=False), batch) == 0.3
