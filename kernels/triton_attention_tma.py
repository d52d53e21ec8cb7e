"""Flash-attention forward for Hopper in Triton: the tiles move by the tensor-memory accelerator (TMA).

The same online softmax as `triton_attention` (running max and sum in float32, exp2 with log2(e) folded into
the scale), without a bias, on the model's (B, T, H*D) layout read through 3-D tensor descriptors (one
[1, BLOCK, D] tile of one head per load; rows past T read as zeros, stores past T are dropped). The key loop
runs over whole blocks unmasked and finishes with one masked block when Tk is not a multiple of BLOCK_N, so
the pipelined part carries no column test.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

LOG2E = 1.4426950408889634


def _set_blocks(nargs):
    d = nargs["D"]
    for name, rows in (("desc_q", "BLOCK_M"), ("desc_o", "BLOCK_M"), ("desc_k", "BLOCK_N"), ("desc_v", "BLOCK_N")):
        nargs[name].block_shape = [1, nargs[rows], d]


CONFIGS = ((128, 128, 8, 3), (128, 128, 8, 2), (128, 64, 8, 3), (128, 64, 4, 4), (64, 128, 4, 3), (128, 128, 4, 3))


def _configs(warp_specialize: bool):
    return [
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "WS": warp_specialize}, num_warps=w, num_stages=s,
                      pre_hook=_set_blocks)
        for bm, bn, w, s in CONFIGS
    ]  # fmt: skip


@triton.jit
def _softmax_pv(s, desc_v, b, start, hd, m_i, l_i, acc, Tk, scale_log2,
                D: tl.constexpr, BLOCK_N: tl.constexpr, MASKED: tl.constexpr):  # fmt: skip
    """One key block's scores s into the running max m_i, sum l_i and output acc (columns past Tk if MASKED)."""
    if MASKED:
        s = tl.where((start + tl.arange(0, BLOCK_N))[None, :] < Tk, s, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(s, 1) * scale_log2)
    p = tl.exp2(s * scale_log2 - m_new[:, None])
    alpha = tl.exp2(m_i - m_new)
    l_i = l_i * alpha + tl.sum(p, 1)
    v = desc_v.load([b, start, hd]).reshape(BLOCK_N, D)
    return m_new, l_i, tl.dot(p.to(v.dtype), v, acc * alpha[:, None])


@triton.jit
def _step(q, desc_k, desc_v, b, start, hd, m_i, l_i, acc, Tk, scale_log2,
          D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, MASKED: tl.constexpr):  # fmt: skip
    s = tl.dot(q, desc_k.load([b, start, hd]).reshape(BLOCK_N, D).T)
    return _softmax_pv(s, desc_v, b, start, hd, m_i, l_i, acc, Tk, scale_log2, D, BLOCK_N, MASKED)


@triton.jit
def _attn_fwd_tma(desc_q, desc_k, desc_v, desc_o, H, Tq, Tk, scale_log2,
                  D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, WS: tl.constexpr):  # fmt: skip
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    hd = (pid_bh % H) * D
    m0 = pid_m * BLOCK_M
    q = desc_q.load([b, m0, hd]).reshape(BLOCK_M, D)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    whole = (Tk // BLOCK_N) * BLOCK_N
    for start in tl.range(0, whole, BLOCK_N, warp_specialize=WS):
        m_i, l_i, acc = _step(q, desc_k, desc_v, b, start, hd, m_i, l_i, acc, Tk, scale_log2, D, BLOCK_M, BLOCK_N,
                              False)  # fmt: skip
    if whole < Tk:
        m_i, l_i, acc = _step(q, desc_k, desc_v, b, whole, hd, m_i, l_i, acc, Tk, scale_log2, D, BLOCK_M, BLOCK_N,
                              True)  # fmt: skip
    acc = acc / l_i[:, None]
    desc_o.store([b, m0, hd], acc.to(q.dtype).reshape(1, BLOCK_M, D))


_tuned = triton.autotune(configs=_configs(False), key=["Tq", "Tk", "D"])(_attn_fwd_tma)
_tuned_ws = triton.autotune(configs=_configs(True), key=["Tq", "Tk", "D"])(_attn_fwd_tma)


def supported(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> bool:
    """CUDA sm90+, bf16/fp16, head size 64 or 128, rows 16-byte aligned (what the descriptors need)."""
    d = q.shape[-1] // heads
    if not q.is_cuda or torch.cuda.get_device_capability(q.device)[0] < 9 or d not in (64, 128):
        return False
    if q.dtype not in (torch.bfloat16, torch.float16) or k.dtype != q.dtype or v.dtype != q.dtype:
        return False
    return all(t.stride(-1) == 1 and (t.stride(1) * t.element_size()) % 16 == 0 and t.data_ptr() % 16 == 0
               for t in (q, k, v))  # fmt: skip


def attention_triton_tma(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, warp_specialize: bool = False
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head; q (B, Tq, H*D), k/v (B, Tk, H*D). `warp_specialize`: Triton's
    producer / consumer warp split of the key loop."""
    b, tq, inner = q.shape
    tk, d = k.shape[1], inner // heads
    out = torch.empty(b, tq, inner, dtype=q.dtype, device=q.device)
    desc = lambda t: TensorDescriptor(t, list(t.shape), list(t.stride()), [1, 64, d])  # noqa: E731 (blocks: pre_hook)
    grid = lambda meta: (triton.cdiv(tq, meta["BLOCK_M"]), b * heads)  # noqa: E731
    kernel = _tuned_ws if warp_specialize else _tuned
    kernel[grid](desc(q), desc(k), desc(v), desc(out), heads, tq, tk, d**-0.5 * LOG2E, D=d)
    return out
