"""Linear probe: a softmax classifier trained on frozen embeddings.

The standard linear evaluation of self-supervised representations (Zhang et al., 2016;
Chen et al., 2020 "SimCLR", Sec. B.6): freeze the backbone, fit one nn.Linear on its features,
report test top-1. Features are standardised with the train mean/std first, so one learning
rate suits every method whatever the scale of its embeddings.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ssl_core.eval.knn import _check_labels


def _check_feats(feats: torch.Tensor, labels: torch.Tensor, num_classes: int, name: str) -> None:
    if feats.dim() != 2 or feats.shape[0] == 0:
        raise ValueError(f"{name}_feats must be a non-empty [N, D] tensor, got {tuple(feats.shape)}")
    _check_labels(labels, feats.shape[0], num_classes, f"{name}_labels")


def linear_probe_accuracy(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    epochs: int = 100,
    lr: float = 0.1,
    weight_decay: float = 1e-4,
    batch_size: int = 1024,
    seed: int = 0,
) -> float:
    """Top-1 accuracy (percent) of a linear classifier fit on frozen features.

    Args:
        train_feats: [Ntr, D] frozen embeddings; train_labels: [Ntr] int64 in [0, C).
        test_feats: [Nte, D]; test_labels: [Nte] int64 in [0, C).
        num_classes: C of the dataset (the classifier has C outputs even if a split lacks some).
        epochs: passes over the train set.
        lr: peak SGD learning rate (momentum 0.9, cosine decay to 0 over all steps).
        weight_decay: L2 coefficient (SGD weight decay on the weights, not on the bias).
        batch_size: mini-batch size; >= Ntr means full-batch gradient descent.
        seed: seeds the shuffling; the weights start at zero (the problem is convex, so a
            random init buys nothing), which makes the result a function of the seed alone.

    Runs on train_feats' device, with gradients enabled even inside a caller's no_grad().
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    _check_feats(train_feats, train_labels, num_classes, "train")
    _check_feats(test_feats, test_labels, num_classes, "test")
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(
            f"feature dimension mismatch: train D={train_feats.shape[1]}, test D={test_feats.shape[1]}"
        )
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    device = train_feats.device
    x_tr = train_feats.detach().to(device, torch.float32)
    x_te = test_feats.detach().to(device, torch.float32)
    y_tr = train_labels.to(device, torch.int64)
    y_te = test_labels.to(device, torch.int64)

    mean = x_tr.mean(dim=0)
    # Constant features would divide by zero; leave them at 0 after centring instead.
    std = x_tr.std(dim=0, unbiased=False).clamp_min(1e-6)
    x_tr = (x_tr - mean) / std
    x_te = (x_te - mean) / std

    n, d = x_tr.shape
    weight = torch.zeros(num_classes, d, device=device, requires_grad=True)
    bias = torch.zeros(num_classes, device=device, requires_grad=True)
    opt = torch.optim.SGD(
        [{"params": [weight], "weight_decay": weight_decay}, {"params": [bias], "weight_decay": 0.0}],
        lr=lr,
        momentum=0.9,
    )
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total))
    )
    # A CPU generator works for any device: only the permutation is drawn from it.
    gen = torch.Generator().manual_seed(seed)

    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen).to(device) if batch_size < n else None
            for s in range(steps_per_epoch):
                if order is None:
                    xb, yb = x_tr, y_tr
                else:
                    idx = order[s * batch_size : (s + 1) * batch_size]
                    xb, yb = x_tr[idx], y_tr[idx]
                loss = F.cross_entropy(F.linear(xb, weight, bias), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()

    with torch.no_grad():
        pred = F.linear(x_te, weight, bias).argmax(dim=1)
        return 100.0 * (pred == y_te).double().mean().item()
