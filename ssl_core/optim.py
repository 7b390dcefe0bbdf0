"""Optimisers (timm's implementations) and the warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math

import torch
from timm.optim import create_optimizer_v2
from torch import nn

from ssl_core.config import OptimConfig

# Our names -> timm's. timm's "sgd" is Nesterov; "momentum" is the classic heavy-ball SGD
# that MoCo v2 / SimSiam use. LARS (You et al. 2017, "Large Batch Training of Convolutional
# Networks") is SimCLR's, BYOL's, Barlow Twins' and VICReg's optimiser. timm's LARS skips the trust
# ratio where weight decay is 0, and filter_bias_and_bn puts biases and norms there: SimCLR's and
# BYOL's exclusion of biases and BN parameters from LARS adaptation and weight decay, for free.
_TIMM_NAMES = {"sgd": "momentum", "lars": "lars", "adamw": "adamw"}


# How the peak rate follows the global batch (``optim.lr`` is the rate at batch 256).
# SGD and LARS: linearly (Goyal et al. 2017, "Accurate, Large Minibatch SGD"; SimCLR, BYOL, Barlow
# Twins and VICReg scale LARS the same way, SimSiam its SGD, DINO even its AdamW). AdamW: with the
# square root (Malladi et al. 2022, "On the SDEs and Scaling Rules for Adaptive Gradient
# Algorithms"; SimCLR's appendix B.1 also prefers the square
# root at small batches): Adam divides by the gradient's second moment, so its step noise
# shrinks with sqrt(batch), not batch. Linear scaling starved small-batch AdamW: supervised
# resnet10t on birdsong at batch 64 (95 steps) reached val kNN 47.8 % at rate 2.5e-4 (1e-3 at
# 256, scaled linearly) and 72.5 % at 1e-3 after 3 epochs of 19 steps.
_SQRT_SCALED = {"adamw"}


def effective_lr(cfg: OptimConfig, global_batch: int) -> float:
    """The peak learning rate at ``global_batch``: ``lr * batch / 256`` for SGD and LARS,
    ``lr * sqrt(batch / 256)`` for AdamW; ``lr`` itself without ``scale_lr_with_batch``."""
    if not cfg.scale_lr_with_batch:
        return cfg.lr
    ratio = global_batch / 256
    return cfg.lr * (math.sqrt(ratio) if cfg.name in _SQRT_SCALED else ratio)


# torch's SGD and AdamW have fused kernels (one kernel for every parameter tensor instead of a
# few per tensor); timm's LARS has none.
_FUSABLE = {"sgd", "adamw"}


def uses_fused_step(model: nn.Module, cfg: OptimConfig, fused: bool | None = None) -> bool:
    """Whether ``build_optimizer`` takes the fused kernel: ``fused=None`` means on CUDA only.

    On a GPU the step of a ResNet-18 is ~60 parameter tensors; the fused kernel launches one
    kernel for all of them. On the CPU torch's fused path exists too but is not faster, so the
    default keeps the foreach path there (``fused=True`` forces it, for tests).
    """
    if cfg.name not in _FUSABLE:
        return False
    if fused is not None:
        return fused
    params = [p for p in model.parameters() if p.requires_grad]
    return bool(params) and all(p.is_cuda for p in params)


def build_optimizer(model: nn.Module, cfg: OptimConfig, global_batch: int,
                    fused: bool | None = None) -> torch.optim.Optimizer:
    """Optimiser over the trainable parameters of ``model`` (frozen EMA targets excluded).

    ``fused``: None (default) uses the fused kernel of SGD / AdamW when the parameters are on
    a GPU; True / False force it on / off (see ``uses_fused_step``).
    """
    kwargs: dict = {"momentum": cfg.momentum} if cfg.name in ("sgd", "lars") else {}
    if uses_fused_step(model, cfg, fused):
        kwargs["fused"] = True
    return create_optimizer_v2(model, opt=_TIMM_NAMES[cfg.name], lr=effective_lr(cfg, global_batch),
                               weight_decay=cfg.weight_decay, filter_bias_and_bn=True, **kwargs)


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """LR multiplier: linear from ~0 to 1 over ``warmup_steps``, then cosine to ``min_ratio``.

    Linear warm-up (Goyal et al. 2017), then a half cosine without restarts (Loshchilov & Hutter 2017,
    SGDR), as SimCLR, BYOL and DINO schedule their rates.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int,
                    epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule; a LambdaLR so its state (the step) round-trips through checkpoints."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    total = steps_per_epoch * epochs
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, warmup, total, cfg.min_lr_ratio))
