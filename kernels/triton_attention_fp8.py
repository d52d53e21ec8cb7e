"""8-bit attention for Hopper in Triton (opt-in): Q K^T on the INT8 tensor cores, P V on the FP8 (e4m3) ones.

Before the attention kernel, one pass over each tensor (Triton kernels `_quant_int8`, `_quant_vt`; the two
per-channel statistics are single-pass torch reductions):
- K is smoothed: its mean over the tokens of each head is subtracted (every score of a query shifts by the
  same q . mean, which the softmax ignores), so its 8-bit values spend their range on what differs;
- Q and the smoothed K are scaled per block of BLOCK tokens of one head to the int8 range (127) and rounded,
  the softmax scale and log2(e) folded into Q's scale (int8 keeps 4 more bits than e4m3 here: Q K^T in e4m3
  alone made a 4-9 % error on random inputs, in int8 1.4-3 %);
- V is scaled per channel of one head and stored transposed, (B, H*D, T): the FP8 tensor cores read their
  second operand along its reduction axis (the tokens, for P V).
In the kernel the scores are the int32 Q8 K8^T times the two block scales in float32, the online softmax runs in
float32 (exp2), P is rounded to e4m3 at a fixed scale (P <= 1: x 448), and each block's P8 V8 product starts
from a fresh float32 accumulator before it is added to the running one (two-level accumulation: the FP8
tensor cores' own accumulator keeps fewer bits). The key loop runs unmasked over whole blocks and finishes with
one masked block. Out = acc / (448 l) x V's channel scales.
Errors: bench/results/kernels (attention rel error per shape against float32).
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

LOG2E = 1.4426950408889634
E4M3_MAX = 448.0
BLOCK = 128  # tokens per Q / K scale block, and the kernel's BLOCK_M = BLOCK_N
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


def _set_blocks(nargs):
    d, m = nargs["D"], nargs["BLOCK_M"]
    nargs["desc_q"].block_shape = [1, m, d]
    nargs["desc_k"].block_shape = [1, m, d]
    nargs["desc_vt"].block_shape = [1, d, m]
    nargs["desc_o"].block_shape = [1, m, d]


@triton.jit
def _block(q, q_scale, desc_k, desc_vt, KS, b, j, hd, kbase, m_i, l_i, acc, Tk,
           D: tl.constexpr, BLOCK_M: tl.constexpr, MASKED: tl.constexpr, TWO_LEVEL: tl.constexpr):  # fmt: skip
    start = j * BLOCK_M
    k = desc_k.load([b, start, hd]).reshape(BLOCK_M, D)
    s = tl.dot(q, k.T).to(tl.float32) * (q_scale * tl.load(KS + kbase + j))
    if MASKED:
        s = tl.where((start + tl.arange(0, BLOCK_M))[None, :] < Tk, s, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(s, 1))
    p = tl.exp2(s - m_new[:, None])
    alpha = tl.exp2(m_i - m_new)
    l_i = l_i * alpha + tl.sum(p, 1)
    vt = desc_vt.load([b, hd, start]).reshape(D, BLOCK_M)
    if TWO_LEVEL:
        acc = acc * alpha[:, None] + tl.dot((p * 448.0).to(vt.dtype), vt.T)  # a fresh accumulator per block
    else:  # (measured against: the running sum in the FP8 MMA's own accumulator)
        acc = tl.dot((p * 448.0).to(vt.dtype), vt.T, acc * alpha[:, None])
    return m_new, l_i, acc


@triton.autotune(
    configs=[
        triton.Config({"BLOCK_M": BLOCK}, num_warps=w, num_stages=s, pre_hook=_set_blocks)
        for w, s in ((8, 3), (8, 2), (4, 3))
    ],  # fmt: skip
    key=["Tq", "Tk", "D", "TWO_LEVEL"],
)
@triton.jit
def _attn_fwd_fp8(desc_q, desc_k, desc_vt, desc_o, QS, KS, VS, H, Tq, Tk, nq, nk,
                  D: tl.constexpr, BLOCK_M: tl.constexpr, TWO_LEVEL: tl.constexpr):  # fmt: skip
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    hd = (pid_bh % H) * D
    q = desc_q.load([b, pid_m * BLOCK_M, hd]).reshape(BLOCK_M, D)
    q_scale = tl.load(QS + pid_bh * nq + pid_m)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    whole = Tk // BLOCK_M
    for j in tl.range(0, whole):
        m_i, l_i, acc = _block(q, q_scale, desc_k, desc_vt, KS, b, j, hd, pid_bh * nk, m_i, l_i, acc, Tk, D,
                               BLOCK_M, False, TWO_LEVEL)  # fmt: skip
    if whole < nk:
        m_i, l_i, acc = _block(q, q_scale, desc_k, desc_vt, KS, b, whole, hd, pid_bh * nk, m_i, l_i, acc, Tk, D,
                               BLOCK_M, True, TWO_LEVEL)  # fmt: skip
    v_scale = tl.load(VS + pid_bh * D + tl.arange(0, D))
    out = acc / (448.0 * l_i[:, None]) * v_scale[None, :]
    desc_o.store([b, pid_m * BLOCK_M, hd], out.to(desc_o.dtype).reshape(1, BLOCK_M, D))


@triton.jit
def _quant_int8(X, MEAN, X8, S, T, stride_b, stride_t, H, n, factor,
                D: tl.constexpr, BLOCK: tl.constexpr, SMOOTH: tl.constexpr):  # fmt: skip
    """One block of BLOCK tokens of one head: (x - mean) to int8 at the block's scale (amax / 127)."""
    pid_n = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    hd = (pid_bh % H) * D
    rows = pid_n * BLOCK + tl.arange(0, BLOCK)
    cols = hd + tl.arange(0, D)
    ok = rows[:, None] < T
    x = tl.load(X + b * stride_b + rows[:, None] * stride_t + cols[None, :], mask=ok, other=0.0).to(tl.float32)
    if SMOOTH:
        x = tl.where(ok, x - tl.load(MEAN + b * H * D + cols)[None, :], 0.0)
    scale = tl.maximum(tl.max(tl.max(tl.abs(x), 1), 0), 1e-12) / 127.0
    x = x / scale
    x = tl.where(x >= 0, tl.floor(x + 0.5), -tl.floor(0.5 - x))  # to the nearest, halves away from zero
    tl.store(X8 + (b * T + rows[:, None]) * (H * D) + cols[None, :], x.to(tl.int8), mask=ok)
    tl.store(S + pid_bh * n + pid_n, scale * factor)


@triton.jit
def _quant_vt(V, VS, VT, T, stride_b, stride_t, inner, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr):
    """A [BLOCK_T tokens, BLOCK_C channels] tile of V at its channels' scales to e4m3, stored transposed."""
    pid_t = tl.program_id(0)
    pid_c = tl.program_id(1)
    b = tl.program_id(2)
    rows = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    ok = (rows[:, None] < T) & (cols[None, :] < inner)
    v = tl.load(V + b * stride_b + rows[:, None] * stride_t + cols[None, :], mask=ok, other=0.0).to(tl.float32)
    v = v / tl.load(VS + b * inner + cols, mask=cols < inner, other=1.0)[None, :]
    tl.store(VT + (b * inner + cols[None, :]) * T + rows[:, None], v.to(VT.dtype.element_ty), mask=ok)


def supported(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> bool:
    """CUDA sm90+ (or the CPU interpreter), bf16/fp16, head size 64 or 128, key lengths a multiple of 16 (V's
    transposed rows), channels contiguous."""
    d = q.shape[-1] // heads
    if d not in (64, 128) or not (INTERPRETED or (q.is_cuda and torch.cuda.get_device_capability(q.device)[0] >= 9)):
        return False
    if q.dtype not in (torch.bfloat16, torch.float16) or not k.dtype == v.dtype == q.dtype or k.shape[1] % 16:
        return False
    return all(t.stride(-1) == 1 for t in (q, k, v))  # (the quantisation kernels read whole rows of channels)


def _launch(kernel, grid, *args, **meta):
    (kernel.fn if INTERPRETED else kernel)[grid](*args, **meta)  # (an autotuned kernel: the interpreter runs .fn)


def _quantize_blocks(x: torch.Tensor, heads: int, factor: float = 1.0, mean: torch.Tensor | None = None):
    """int8 (B, T, H*D) and float32 scales (B*H, nblocks): (x - mean) ~= x8 * scale / factor per block of one
    head."""
    b, t, inner = x.shape
    n = triton.cdiv(t, BLOCK)
    x8 = torch.empty(b, t, inner, dtype=torch.int8, device=x.device)
    scale = torch.empty(b * heads, n, dtype=torch.float32, device=x.device)
    _quant_int8[(n, b * heads)](x, x if mean is None else mean, x8, scale, t, x.stride(0), x.stride(1), heads, n,
                                factor, D=inner // heads, BLOCK=BLOCK, SMOOTH=mean is not None)  # fmt: skip
    return x8, scale


def quantize(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int):
    """The kernel's inputs: int8 Q and smoothed K, e4m3 V^T, and their scales."""
    b, tk, inner = k.shape
    d = inner // heads
    q8, q_scale = _quantize_blocks(q, heads, d**-0.5 * LOG2E)
    k8, k_scale = _quantize_blocks(k, heads, mean=k.mean(dim=1, dtype=torch.float32).contiguous())
    v_scale = torch.linalg.vector_norm(v, float("inf"), dim=1, dtype=torch.float32).clamp_(min=1e-12) / E4M3_MAX
    vt8 = torch.empty(b, inner, tk, dtype=torch.float8_e4m3fn, device=v.device)
    _quant_vt[(triton.cdiv(tk, 64), triton.cdiv(inner, 64), b)](v, v_scale, vt8, tk, v.stride(0), v.stride(1), inner,
                                                                 BLOCK_T=64, BLOCK_C=64)  # fmt: skip
    return q8, k8, vt8, q_scale, k_scale, v_scale.reshape(b * heads, d)


def attention_fp8(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, two_level: bool = True
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head with 8-bit matrix products; q (B, Tq, H*D), k/v (B, Tk, H*D).
    `two_level=False` keeps the running P V sum in the FP8 tensor cores' accumulator (`LTX_ATTENTION=
    int8-fp8-one-level`; scripts/fp8_attention_accumulation.py measures both)."""
    b, tq, inner = q.shape
    tk, d = k.shape[1], inner // heads
    q8, k8, vt8, q_scale, k_scale, v_scale = quantize(q, k, v, heads)
    out = torch.empty(b, tq, inner, dtype=q.dtype, device=q.device)
    desc = lambda t, block: TensorDescriptor(t, list(t.shape), list(t.stride()), block)  # noqa: E731 (pre_hook sets)
    extra = {"BLOCK_M": BLOCK} if INTERPRETED else {}  # (the interpreter cannot autotune)
    _launch(_attn_fwd_fp8, (triton.cdiv(tq, BLOCK), b * heads), desc(q8, [1, BLOCK, d]), desc(k8, [1, BLOCK, d]),
            desc(vt8, [1, d, BLOCK]), desc(out, [1, BLOCK, d]), q_scale, k_scale, v_scale, heads, tq, tk,
            q_scale.shape[1], k_scale.shape[1], D=d, TWO_LEVEL=two_level, **extra)  # fmt: skip
    return out
