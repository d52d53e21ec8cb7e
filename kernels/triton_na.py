"""3-D neighbourhood attention forward in Triton, on (B, T, H, W, heads, head_dim) tensors.

One program takes a BH x BW patch of queries in one frame and one head (BLOCK_M = BH * BW rows). The
union of their windows is kt frames x (BH + kh - 1) rows x (BW + kw - 1) columns; the program streams it
one (frame, row) segment of BLOCK_N >= BW + kw - 1 keys at a time with the online softmax (float32 running
max and sum, exp2 with log2(e) folded into the scale) and masks each key to the queries whose window holds
it. Windows follow the reference (ltx.nn.neighborhood): start = clamp(i - k // 2, 0, L - k) per axis.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

LOG2E = 1.4426950408889634
NEG = tl.constexpr(-1.0e30)  # a finite "minus infinity": fully masked segments then leave the running state unchanged


@triton.jit
def _na3d_fwd(
    Q, K, V, Out,
    s_b, s_t, s_h, s_w, s_n,
    T, H, W, NH, n_hb, n_wb, scale_log2,
    KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, D: tl.constexpr,
    BH: tl.constexpr, BW: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    head = tl.program_id(1)
    wb = pid % n_wb
    rest = pid // n_wb
    hb = rest % n_hb
    rest = rest // n_hb
    t = rest % T
    b = rest // T
    h0 = hb * BH
    w0 = wb * BW

    offs_m = tl.arange(0, BH * BW)
    qh = h0 + offs_m // BW
    qw = w0 + offs_m % BW
    q_ok = (qh < H) & (qw < W)
    # each query's window start per axis
    qh_start = tl.minimum(tl.maximum(qh - KH // 2, 0), H - KH)
    qw_start = tl.minimum(tl.maximum(qw - KW // 2, 0), W - KW)
    t_start = tl.minimum(tl.maximum(t - KT // 2, 0), T - KT)
    # the union of the patch's windows
    h_first = tl.minimum(tl.maximum(h0 - KH // 2, 0), H - KH)
    h_last = tl.minimum(tl.maximum(tl.minimum(h0 + BH, H) - 1 - KH // 2, 0), H - KH) + KH
    w_first = tl.minimum(tl.maximum(w0 - KW // 2, 0), W - KW)

    offs_d = tl.arange(0, D)
    base = b * s_b + head * s_n
    q_ptr = Q + base + t * s_t + qh[:, None] * s_h + qw[:, None] * s_w + offs_d[None, :]
    q = tl.load(q_ptr, mask=q_ok[:, None], other=0.0)

    m_i = tl.full((BH * BW,), NEG, tl.float32)
    l_i = tl.zeros((BH * BW,), tl.float32)
    acc = tl.zeros((BH * BW, D), tl.float32)
    cols = w_first + tl.arange(0, BLOCK_N)
    col_in = cols < W
    col_ok = col_in[None, :] & (cols[None, :] >= qw_start[:, None]) & (cols[None, :] < qw_start[:, None] + KW)
    for kt in range(KT):
        kf = t_start + kt
        for kh in range(h_first, h_last):
            row_ok = (kh >= qh_start) & (kh < qh_start + KH)
            ok = col_ok & row_ok[:, None]
            k_ptr = K + base + kf * s_t + kh * s_h + cols[None, :] * s_w + offs_d[:, None]
            k = tl.load(k_ptr, mask=col_in[None, :], other=0.0)  # (D, BLOCK_N)
            s = tl.dot(q, k, input_precision=PRECISION) * scale_log2
            s = tl.where(ok, s, NEG)
            m_new = tl.maximum(m_i, tl.max(s, 1))
            p = tl.where(ok, tl.exp2(s - m_new[:, None]), 0.0)
            alpha = tl.exp2(m_i - m_new)
            l_i = l_i * alpha + tl.sum(p, 1)
            v_ptr = V + base + kf * s_t + kh * s_h + cols[:, None] * s_w + offs_d[None, :]
            v = tl.load(v_ptr, mask=col_in[:, None], other=0.0)  # (BLOCK_N, D)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
            m_i = m_new
    out = acc / l_i[:, None]
    o_ptr = Out + base + t * s_t + qh[:, None] * s_h + qw[:, None] * s_w + offs_d[None, :]
    tl.store(o_ptr, out.to(Out.dtype.element_ty), mask=q_ok[:, None])


def supported(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel) -> bool:
    """The shapes and dtypes the kernel takes: one layout for q, k, v with contiguous head_dim of 16-128
    (a power of two), fp16/bf16/fp32, and a grid that holds the window."""
    if q.dim() != 6 or k.shape != q.shape or v.shape != q.shape or q.dtype not in (torch.float16, torch.bfloat16,
                                                                                 torch.float32):  # fmt: skip
        return False
    if k.stride() != q.stride() or v.stride() != q.stride() or q.stride(-1) != 1 or k.dtype != q.dtype:
        return False
    d = q.shape[-1]
    return d in (16, 32, 64, 128) and all(n >= kk for n, kk in zip(q.shape[1:4], kernel, strict=True))


def neighborhood_attention_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kernel: tuple[int, int, int],
    scale: float | None = None,
    block: tuple[int, int] = (8, 8),
    num_warps: int = 4,
) -> torch.Tensor:
    """Same contract as ltx.nn.neighborhood.neighborhood_attention_ref; `block` = (BH, BW) queries."""
    b, t, h, w, heads, d = q.shape
    kt, kh, kw = kernel
    scale = d**-0.5 if scale is None else scale
    bh, bw = block
    block_n = max(16, triton.next_power_of_2(bw + kw - 1))
    out = torch.empty_like(q)
    n_hb, n_wb = triton.cdiv(h, bh), triton.cdiv(w, bw)
    grid = (b * t * n_hb * n_wb, heads)
    sb, st, sh, sw, sn, _ = q.stride()
    _na3d_fwd[grid](
        q, k, v, out, sb, st, sh, sw, sn, t, h, w, heads, n_hb, n_wb, scale * LOG2E,
        KT=kt, KH=kh, KW=kw, D=d, BH=bh, BW=bw, BLOCK_N=block_n, num_warps=num_warps,
        PRECISION="ieee" if q.dtype == torch.float32 else "tf32",  # float32 stays float32 (no TF32)
    )  # fmt: skip
    return out
