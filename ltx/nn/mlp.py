"""Feed-forward blocks (GELU-tanh MLPs), named as in the official checkpoints."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GELUProj(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, bias: bool = True):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    """dim -> 4*dim (GELU-tanh) -> dim. Keys net.0.proj and net.2 (net.1 is an empty dropout slot).
    `bias=False` (LTX-2.5's video stream) drops both biases."""

    def __init__(self, dim: int, mult: int = 4, bias: bool = True):
        super().__init__()
        self.net = nn.Sequential(GELUProj(dim, dim * mult, bias), nn.Identity(), nn.Linear(dim * mult, dim, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CaptionProjection(nn.Module):
    """Text features -> stream width: Linear -> GELU-tanh -> Linear (LTX-2 19B)."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, dim)
        self.act_1 = nn.GELU(approximate="tanh")
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act_1(self.linear_1(x)))
