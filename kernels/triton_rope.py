"""QK RMSNorm + rotary embedding in one Triton pass per token row (read x, weight and the table once,
write once), both table layouts; float32 arithmetic, rounded once."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _norm_rope_split(X, W, Cos, Sin, Out, T, eps, scb, sch, sct, H: tl.constexpr, HALF: tl.constexpr,
                     HAS_ROPE: tl.constexpr):  # fmt: skip
    row = tl.program_id(0)
    b = row // T
    t = row % T
    hh = tl.arange(0, H)[:, None]
    jj = tl.arange(0, HALF)[None, :]
    first = hh * (2 * HALF) + jj  # (H, D/2) offsets of each head's first half
    x1 = tl.load(X + row * H * 2 * HALF + first).to(tl.float32)
    x2 = tl.load(X + row * H * 2 * HALF + first + HALF).to(tl.float32)
    r = tl.rsqrt((tl.sum(tl.sum(x1 * x1, 1), 0) + tl.sum(tl.sum(x2 * x2, 1), 0)) / (H * 2 * HALF) + eps)
    x1 = x1 * r * tl.load(W + first).to(tl.float32)
    x2 = x2 * r * tl.load(W + first + HALF).to(tl.float32)
    if HAS_ROPE:
        table = b * scb + hh * sch + t * sct + jj
        c = tl.load(Cos + table).to(tl.float32)
        s = tl.load(Sin + table).to(tl.float32)
        x1, x2 = x1 * c - x2 * s, x2 * c + x1 * s
    tl.store(Out + row * H * 2 * HALF + first, x1.to(Out.dtype.element_ty))
    tl.store(Out + row * H * 2 * HALF + first + HALF, x2.to(Out.dtype.element_ty))


@triton.jit
def _norm_rope_interleaved(X, W, Cos, Sin, Out, N, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    i = tl.arange(0, BLOCK)
    ok = i < N // 2
    even = row * N + 2 * i
    xe = tl.load(X + even, mask=ok, other=0.0).to(tl.float32)
    xo = tl.load(X + even + 1, mask=ok, other=0.0).to(tl.float32)
    r = tl.rsqrt((tl.sum(xe * xe, 0) + tl.sum(xo * xo, 0)) / N + eps)
    xe = xe * r * tl.load(W + 2 * i, mask=ok, other=0.0).to(tl.float32)
    xo = xo * r * tl.load(W + 2 * i + 1, mask=ok, other=0.0).to(tl.float32)
    ce = tl.load(Cos + even, mask=ok, other=1.0).to(tl.float32)
    co = tl.load(Cos + even + 1, mask=ok, other=1.0).to(tl.float32)
    se = tl.load(Sin + even, mask=ok, other=0.0).to(tl.float32)
    so = tl.load(Sin + even + 1, mask=ok, other=0.0).to(tl.float32)
    tl.store(Out + even, (xe * ce - xo * se).to(Out.dtype.element_ty), mask=ok)
    tl.store(Out + even + 1, (xo * co + xe * so).to(Out.dtype.element_ty), mask=ok)


def supported(x: torch.Tensor, cos: torch.Tensor | None, split: bool) -> bool:
    if not x.is_contiguous():
        return False
    if cos is None:  # the norm alone runs as one head of the whole dim: a power of two
        half = x.shape[-1] // 2
        return half & (half - 1) == 0
    if not split:
        return cos.shape == x.shape and cos.is_contiguous()
    h, half = cos.shape[1], cos.shape[-1]
    return cos.stride(-1) == 1 and h * 2 * half == x.shape[-1] and h & (h - 1) == 0 and half & (half - 1) == 0


def qk_norm_rope_triton(x, weight, eps: float, cos=None, sin=None, split: bool = False) -> torch.Tensor:
    b, t, n = x.shape
    out = torch.empty_like(x)
    if cos is not None and not split:
        block = triton.next_power_of_2(n // 2)
        _norm_rope_interleaved[(b * t,)](x, weight, cos, sin, out, n, eps, BLOCK=block, num_warps=4 if n <= 2048 else 8)
        return out
    if cos is None:  # the norm alone: one "head" of the whole dim, no rotation
        h, half = 1, n // 2
        strides = (0, 0, 0)
        cos = sin = x
    else:
        h, half = cos.shape[1], cos.shape[-1]
        strides = (cos.stride(0) if cos.shape[0] > 1 else 0, cos.stride(1), cos.stride(2))
    _norm_rope_split[(b * t,)](x, weight, cos, sin, out, t, eps, *strides, H=h, HALF=half,
                               HAS_ROPE=strides != (0, 0, 0), num_warps=4 if n <= 2048 else 8)  # fmt: skip
    return out
