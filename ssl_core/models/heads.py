"""Projection and prediction heads (SimCLR, BYOL, SimSiam): MLPs with optional batch norm."""

from __future__ import annotations

from torch import Tensor, nn


class MLPHead(nn.Module):
    """``num_layers`` linear layers; hidden layers are Linear -> [BN] -> ReLU.

    ``x: [N, in_dim] -> [N, out_dim]``. With ``last_bn`` the output passes a BatchNorm
    without affine parameters, as SimSiam's projector does (Chen & He 2021).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2,
                 batch_norm: bool = True, last_bn: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers={num_layers} is invalid: an MLP head needs at least 1 layer")
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            if value < 1:
                raise ValueError(f"{name}={value} is invalid: must be >= 1")
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers - 1):
            # A bias before BN is redundant (BN subtracts the mean).
            layers.append(nn.Linear(dim, hidden_dim, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            dim = hidden_dim
        layers.append(nn.Linear(dim, out_dim, bias=not last_bn))
        if last_bn:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def projection_head(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int,
                    batch_norm: bool, last_bn: bool = False) -> MLPHead:
    """The projector g(.) of SimCLR: backbone features -> embedding the loss sees."""
    return MLPHead(in_dim, hidden_dim, out_dim, num_layers, batch_norm, last_bn)


def prediction_head(dim: int, hidden_dim: int) -> MLPHead:
    """The predictor q(.) of BYOL / SimSiam: a 2-layer bottleneck MLP, ``[N, dim] -> [N, dim]``."""
    return MLPHead(dim, hidden_dim, dim, num_layers=2, batch_norm=True)
