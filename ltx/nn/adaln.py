"""Timestep embeddings and AdaLN-single (PixArt-alpha): noise level -> modulation rows."""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_sinusoid(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) -> (N, dim) float32 [cos | sin] features (flip_sin_to_cos, no frequency shift)."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    args = t[:, None].float() * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepMLP(nn.Module):
    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class TimestepEmbedding(nn.Module):
    """sinusoid(256) -> Linear -> SiLU -> Linear. Official key: emb.timestep_embedder.*"""

    def __init__(self, dim: int):
        super().__init__()
        self.timestep_embedder = TimestepMLP(256, dim)

    def forward(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.timestep_embedder(timestep_sinusoid(t).to(dtype))


class AdaLNSingle(nn.Module):
    """t (N,) -> (rows (N, k*dim), embedded (N, dim)) with rows = Linear(SiLU(embedded))."""

    def __init__(self, dim: int, k: int):
        super().__init__()
        self.emb = TimestepEmbedding(dim)
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, k * dim)

    def forward(self, t: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        embedded = self.emb(t, dtype)
        return self.linear(self.silu(embedded)), embedded
