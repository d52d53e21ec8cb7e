"""Rotary position embeddings over fractional positions in several axes (time, height, width).

Each token has a [start, end) extent per axis; its position is the midpoint, divided by the axis'
max_pos and mapped to [-1, 1]. Frequencies are theta**linspace(0, 1, n) * pi/2 with
n = dim // (2 * axes), laid out frequency-major with the axes fastest.

Two layouts of the rotation over the (heads * head_dim) channels:
- interleaved: rotate pairs (2i, 2i+1) across the whole inner dim (heads included); the channels
  left over when dim is not a multiple of 2*axes are padded at the FRONT with the identity rotation.
- split: each head gets its own band of dim/(2*heads) angles (front-padded to dim/2 overall) and
  rotates channel i with channel i + head_dim/2.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange


class Rope(NamedTuple):
    cos: torch.Tensor  # interleaved: (B, T, dim); split: (B, H, T, head_dim // 2)
    sin: torch.Tensor
    split: bool


def frequency_grid(theta: float, n_axes: int, dim: int, float64: bool) -> torch.Tensor:
    """The n = dim // (2*n_axes) base frequencies, float32 (computed in float64 when asked)."""
    n = dim // (2 * n_axes)
    if float64:
        return torch.tensor(
            np.power(theta, np.linspace(0.0, 1.0, n, dtype=np.float64)) * math.pi / 2, dtype=torch.float32
        )
    return theta ** torch.linspace(0.0, 1.0, n, dtype=torch.float32) * math.pi / 2


def rope_angles(positions: torch.Tensor, max_pos: tuple[int, ...], grid: torch.Tensor, midpoint: bool) -> torch.Tensor:
    """Angles (B, T, n * axes), axes fastest.

    positions: (B, axes, T, 2) [start, end) bounds, or (B, axes, T) points. The arithmetic up to the
    frequency product stays in the positions' dtype (the official pipelines pass bf16 video positions).
    """
    if positions.ndim == 4:
        positions = (positions[..., 0] + positions[..., 1]) / 2.0 if midpoint else positions[..., 0]
    if positions.shape[1] != len(max_pos):
        raise ValueError(f"positions have {positions.shape[1]} axes but max_pos has {len(max_pos)}: {max_pos}")
    fractions = torch.stack([positions[:, i] / max_pos[i] for i in range(len(max_pos))], dim=-1)  # (B, T, axes)
    angles = grid.to(fractions.device) * (fractions.unsqueeze(-1) * 2 - 1)  # (B, T, axes, n)
    return angles.transpose(-1, -2).flatten(2)


def rope(
    positions: torch.Tensor,
    *,
    dim: int,
    heads: int,
    max_pos: tuple[int, ...],
    theta: float,
    split: bool,
    float64: bool,
    dtype: torch.dtype,
    midpoint: bool = True,
) -> Rope:
    """cos/sin tables for tokens at `positions`, for an inner dim of `dim` channels in `heads` heads."""
    n_axes = len(max_pos)
    angles = rope_angles(positions, max_pos, frequency_grid(theta, n_axes, dim, float64), midpoint)
    b, t, used = angles.shape
    if split:
        cos, sin = angles.cos(), angles.sin()
        pad = dim // 2 - used
        if pad:
            cos = torch.cat([torch.ones_like(cos[:, :, :pad]), cos], dim=-1)
            sin = torch.cat([torch.zeros_like(sin[:, :, :pad]), sin], dim=-1)
        cos = cos.reshape(b, t, heads, -1).transpose(1, 2)
        sin = sin.reshape(b, t, heads, -1).transpose(1, 2)
    else:
        cos = angles.cos().repeat_interleave(2, dim=-1)
        sin = angles.sin().repeat_interleave(2, dim=-1)
        pad = dim % (2 * n_axes)
        if pad:
            cos = torch.cat([torch.ones_like(cos[:, :, :pad]), cos], dim=-1)
            sin = torch.cat([torch.zeros_like(sin[:, :, :pad]), sin], dim=-1)
    return Rope(cos.to(dtype), sin.to(dtype), split)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, split: bool) -> torch.Tensor:
    """Rotate x (B, T, H*D) by a table: interleaved cos/sin (B, T, H*D) turn pairs (2i, 2i+1); split cos/sin
    (B or 1, H, T, D/2) turn channel i of each head with channel i + D/2."""
    if not split:
        pairs = rearrange(x, "... (d two) -> ... d two", two=2)
        x1, x2 = pairs.unbind(-1)
        rotated = rearrange(torch.stack((-x2, x1), dim=-1), "... d two -> ... (d two)")
        return x * cos + rotated * sin
    (b, t, _), h = x.shape, cos.shape[1]  # the table may be shared by the batch (batch dim 1)
    halves = x.reshape(b, t, h, 2, -1).transpose(1, 2)  # (B, H, T, 2, D/2)
    first, second = halves[..., :1, :], halves[..., 1:, :]
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
    out = halves * cos
    out[..., :1, :].addcmul_(-sin, second)  # first*cos - second*sin
    out[..., 1:, :].addcmul_(sin, first)  # second*cos + first*sin
    return out.flatten(-2).transpose(1, 2).reshape(b, t, -1)


def apply_rope(x: torch.Tensor, r: Rope) -> torch.Tensor:
    """Rotate x (B, T, H*D) by the table r."""
    return rotate(x, r.cos, r.sin, r.split)


def qk_norm_rope(x, weight, eps: float, cos=None, sin=None, split: bool = False, round_first: bool = False):
    """The attention's query/key preparation: rms_norm(x) * weight over the whole inner dim (all heads at once),
    then rotated by the table (cos, sin) when given. `ltx_kernels.qk_norm_rope` runs this, fused on CUDA.
    `round_first`: the normalised x rounded to a half-precision weight's dtype before the weight multiplies it (two
    roundings, as diffusers' RMSNorm in LTX-Video; `F.rms_norm`, as ltx-core's, rounds once; equal in float32)."""
    if round_first:
        x = x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)
        x = x.to(weight.dtype) * weight if weight.dtype in (torch.float16, torch.bfloat16) else x * weight
    else:
        x = F.rms_norm(x, (x.shape[-1],), weight, eps)
    return x if cos is None else rotate(x, cos, sin, split)
