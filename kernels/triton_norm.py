"""Modulated RMSNorm and the gated residual in Triton: one pass over each token's row.

rms_norm_modulate: y = x * rsqrt(mean(x^2) + eps) * (1 + scale) + shift, computed in float32 and rounded
once; scale/shift per token (B, T, D) or per sample (B, 1, D) (read through their strides).
gated_residual: x + gate * y with gate (B, T or 1, D).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _rms_modulate(X, Scale, Shift, Out, T, D, eps, ssb, sst, shb, sht, BLOCK_D: tl.constexpr):
    row = tl.program_id(0)
    b = row // T
    t = row % T
    cols = tl.arange(0, BLOCK_D)
    ok = cols < D
    x = tl.load(X + row * D + cols, mask=ok, other=0.0).to(tl.float32)
    r = tl.rsqrt(tl.sum(x * x, 0) / D + eps)
    scale = tl.load(Scale + b * ssb + t * sst + cols, mask=ok, other=0.0).to(tl.float32)
    shift = tl.load(Shift + b * shb + t * sht + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(Out + row * D + cols, (x * r * (1.0 + scale) + shift).to(Out.dtype.element_ty), mask=ok)


@triton.jit
def _gated_residual(X, Y, Gate, Out, T, D, sgb, sgt, BLOCK_D: tl.constexpr):
    row = tl.program_id(0)
    b = row // T
    t = row % T
    cols = tl.arange(0, BLOCK_D)
    ok = cols < D
    x = tl.load(X + row * D + cols, mask=ok, other=0.0).to(tl.float32)
    y = tl.load(Y + row * D + cols, mask=ok, other=0.0).to(tl.float32)
    g = tl.load(Gate + b * sgb + t * sgt + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(Out + row * D + cols, (x + g * y).to(Out.dtype.element_ty), mask=ok)


def _row_strides(m: torch.Tensor, b: int, t: int, d: int) -> tuple[int, int]:
    """(batch stride, token stride) of a (B or 1, T or 1, D) modulation tensor, 0 on broadcast dims."""
    if m.dim() == 2:
        m = m.unsqueeze(1)
    if m.shape[-1] != d or m.stride(-1) != 1:
        raise ValueError(f"modulation must end in a contiguous dim of {d}, got {tuple(m.shape)}")
    return (m.stride(0) if m.shape[0] > 1 else 0), (m.stride(1) if m.shape[1] > 1 else 0)


def _launch_args(d: int) -> dict:
    block = triton.next_power_of_2(d)
    return {"BLOCK_D": block, "num_warps": 4 if block <= 1024 else 8 if block <= 4096 else 16}


def rms_norm_modulate_triton(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    b, t, d = x.shape
    x = x.contiguous()
    out = torch.empty_like(x)
    _rms_modulate[(b * t,)](x, scale, shift, out, t, d, eps, *_row_strides(scale, b, t, d),
                           *_row_strides(shift, b, t, d), **_launch_args(d))  # fmt: skip
    return out


def gated_residual_triton(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    b, t, d = x.shape
    x, y = x.contiguous(), y.contiguous()
    out = torch.empty_like(x)
    _gated_residual[(b * t,)](x, y, gate, out, t, d, *_row_strides(gate, b, t, d), **_launch_args(d))
    return out
