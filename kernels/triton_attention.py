"""Flash-attention forward in Triton, on the model's own layout (batch, tokens, heads * head_dim).

One program computes BLOCK_M query rows of one (batch, head) against all keys, streaming key/value
blocks with the online softmax (running max and sum in float32, exp2 with log2(e) folded into the scale).
Queries and keys may differ in length (cross-attention to text, between streams). An additive bias of any
shape that broadcasts to (B, H, Tq, Tk) is read through its strides (0 on broadcast dims): the text mask
(B, 1, 1, Tk) and the IC-LoRA attention-strength bias (B, 1, Tq, Tk). Reading and writing (B, T, H*D)
directly saves the transposes and the output copy of the PyTorch path.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

LOG2E = 1.4426950408889634
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"  # Triton's CPU interpreter cannot autotune


def _configs():
    return [
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s)
        for bm, bn, w, s in ((128, 128, 8, 3), (128, 64, 8, 3), (128, 64, 4, 3), (64, 64, 4, 2))
    ]


@triton.jit
def _attn_fwd(
    Q, K, V, Bias, Out,
    sqb, sqt, sqh, skb, skt, skh, svb, svt, svh, sob, sot, soh,
    sbb, sbh, sbm, sbn,
    H, Tq, Tk, scale_log2,
    HAS_BIAS: tl.constexpr, D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D)
    row_ok = offs_m < Tq
    q = tl.load(Q + b * sqb + h * sqh + offs_m[:, None] * sqt + offs_d[None, :], mask=row_ok[:, None], other=0.0)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh
    for start in range(0, Tk, BLOCK_N):
        cols = start + offs_n
        col_ok = cols < Tk
        k = tl.load(k_base + cols[None, :] * skt + offs_d[:, None], mask=col_ok[None, :], other=0.0)
        s = tl.dot(q, k) * scale_log2
        if HAS_BIAS:
            bias = tl.load(
                Bias + b * sbb + h * sbh + offs_m[:, None] * sbm + cols[None, :] * sbn,
                mask=row_ok[:, None] & col_ok[None, :],
                other=0.0,
            )
            # finite however large the mask value (a fully masked row then averages, as SDPA does)
            s += tl.maximum(bias.to(tl.float32), -1.0e30) * 1.4426950408889634
        s = tl.where(col_ok[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + cols[:, None] * svt + offs_d[None, :], mask=col_ok[:, None], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    acc = acc / l_i[:, None]
    tl.store(Out + b * sob + h * soh + offs_m[:, None] * sot + offs_d[None, :], acc.to(Out.dtype.element_ty),
             mask=row_ok[:, None])  # fmt: skip


_tuned = triton.autotune(configs=_configs(), key=["Tq", "Tk", "D", "HAS_BIAS"])(_attn_fwd)


def supported(q: torch.Tensor, k: torch.Tensor, heads: int) -> bool:
    d = q.shape[-1] // heads
    return d in (64, 128) and q.stride(-1) == 1 and k.stride(-1) == 1


def attention_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    heads: int,
    mask: torch.Tensor | None = None,
    *,
    config: dict | None = None,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + mask) v per head; q (B, Tq, H*D), k/v (B, Tk, H*D), mask broadcastable to
    (B, H, Tq, Tk). `config` (BLOCK_M, BLOCK_N, num_warps, num_stages) skips autotuning (tests, interpreter)."""
    b, tq, inner = q.shape
    tk = k.shape[1]
    d = inner // heads
    out = torch.empty_like(q)
    if mask is not None:
        bias = mask.expand(b, heads, tq, tk) if mask.dim() == 4 else mask
        strides = [bias.stride(i) if bias.shape[i] > 1 else 0 for i in range(4)]
    else:
        bias, strides = q, [0, 0, 0, 0]
    args = (q, k, v, bias, out, q.stride(0), q.stride(1), d, k.stride(0), k.stride(1), d, v.stride(0), v.stride(1), d,
            out.stride(0), out.stride(1), d, *strides, heads, tq, tk, d**-0.5 * LOG2E)  # fmt: skip
    if config is None and INTERPRETED:
        config = {"BLOCK_M": 32, "BLOCK_N": 16}
    if config is None:
        grid = lambda meta: (triton.cdiv(tq, meta["BLOCK_M"]), b * heads)  # noqa: E731
        _tuned[grid](*args, HAS_BIAS=mask is not None, D=d)
    else:
        grid = (triton.cdiv(tq, config["BLOCK_M"]), b * heads)
        extra = {key: config[key] for key in ("num_warps", "num_stages") if key in config}
        _attn_fwd[grid](*args, HAS_BIAS=mask is not None, D=d, BLOCK_M=config["BLOCK_M"], BLOCK_N=config["BLOCK_N"],
                        **extra)  # fmt: skip
    return out
