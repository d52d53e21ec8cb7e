"""8-bit attention for Hopper in Triton (opt-in): Q K^T on the INT8 tensor cores, P V on the FP8 (e4m3) ones.

Before the kernel (PyTorch ops, a few memory-bound passes):
- K is smoothed: its mean over the tokens of each head is subtracted (every score of a query shifts by the
  same q . mean, which the softmax ignores), so its e4m3 values spend their range on what differs;
- Q and the smoothed K are scaled per block of BLOCK tokens of one head to the int8 range (127) and rounded,
  the softmax scale and log2(e) folded into Q's scale (int8 keeps 4 more bits than e4m3 here: Q K^T in e4m3
  alone made a 4-9 % error on random inputs, in int8 1.4-3 %);
- V is scaled per channel of one head and stored transposed, (B, H*D, T): the FP8 tensor cores read their
  second operand along its reduction axis (the tokens, for P V).
In the kernel the scores are the int32 Q8 K8^T times the two block scales in float32, the online softmax runs in
float32 (exp2), P is rounded to e4m3 at a fixed scale (P <= 1: x 448), and each block's P8 V8 product starts
from a fresh float32 accumulator before it is added to the running one (two-level accumulation: the FP8
tensor cores' own accumulator keeps fewer bits). Out = acc / (448 l) x V's channel scales.
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


@triton.autotune(
    configs=[
        triton.Config({"BLOCK_M": BLOCK}, num_warps=w, num_stages=s, pre_hook=_set_blocks)
        for w, s in ((8, 3), (8, 2), (4, 3))
    ],  # fmt: skip
    key=["Tq", "Tk", "D"],
)
@triton.jit
def _attn_fwd_fp8(desc_q, desc_k, desc_vt, desc_o, QS, KS, VS, H, Tq, Tk, nq, nk,
                  D: tl.constexpr, BLOCK_M: tl.constexpr):  # fmt: skip
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    hd = (pid_bh % H) * D
    q = desc_q.load([b, pid_m * BLOCK_M, hd]).reshape(BLOCK_M, D)
    q_scale = tl.load(QS + pid_bh * nq + pid_m)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    for j in tl.range(0, nk):
        start = j * BLOCK_M
        k = desc_k.load([b, start, hd]).reshape(BLOCK_M, D)
        s = tl.dot(q, k.T).to(tl.float32) * (q_scale * tl.load(KS + pid_bh * nk + j))
        s = tl.where((start + tl.arange(0, BLOCK_M))[None, :] < Tk, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        vt = desc_vt.load([b, hd, start]).reshape(D, BLOCK_M)
        acc = acc * alpha[:, None] + tl.dot((p * 448.0).to(vt.dtype), vt.T)  # a fresh accumulator per block
        m_i = m_new
    v_scale = tl.load(VS + pid_bh * D + tl.arange(0, D))
    out = acc / (448.0 * l_i[:, None]) * v_scale[None, :]
    desc_o.store([b, pid_m * BLOCK_M, hd], out.to(desc_o.dtype).reshape(1, BLOCK_M, D))


def supported(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> bool:
    """CUDA sm90+ (or the CPU interpreter), bf16/fp16, head size 64 or 128, key lengths a multiple of 16 (V's
    transposed rows)."""
    d = q.shape[-1] // heads
    if d not in (64, 128) or not (INTERPRETED or (q.is_cuda and torch.cuda.get_device_capability(q.device)[0] >= 9)):
        return False
    return q.dtype in (torch.bfloat16, torch.float16) and k.dtype == v.dtype == q.dtype and k.shape[1] % 16 == 0


def _blocks(x: torch.Tensor, heads: int) -> tuple[torch.Tensor, int]:
    """(B, T, H*D) -> (B, H, nblocks, BLOCK, D) zero-padded to whole blocks, and the block count."""
    b, t, inner = x.shape
    n = triton.cdiv(t, BLOCK)
    x = torch.nn.functional.pad(x, (0, 0, 0, n * BLOCK - t)) if n * BLOCK != t else x
    return x.view(b, n, BLOCK, heads, inner // heads).permute(0, 3, 1, 2, 4), n


def _quantize_blocks(x: torch.Tensor, heads: int, factor: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 (B, T, H*D) and float32 scales (B*H, nblocks): x ~= x8 * scale / factor per block of one head."""
    b, t, inner = x.shape
    blocks, n = _blocks(x.float(), heads)
    scale = blocks.abs().amax(dim=(-1, -2)).clamp(min=1e-12) / 127.0  # (B, H, n)
    x8 = (blocks / scale[..., None, None]).round_().clamp_(-127, 127).to(torch.int8)
    x8 = x8.permute(0, 2, 3, 1, 4).reshape(b, n * BLOCK, inner)[:, :t].contiguous()
    return x8, (scale * factor).reshape(b * heads, n).contiguous()


def quantize(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int):
    """The kernel's inputs: int8 Q and smoothed K, e4m3 V^T, and their scales."""
    b, tk, inner = k.shape
    d = inner // heads
    q8, q_scale = _quantize_blocks(q, heads, d**-0.5 * LOG2E)
    k32 = k.float().view(b, tk, heads, d)
    k8, k_scale = _quantize_blocks((k32 - k32.mean(dim=1, keepdim=True)).view(b, tk, inner), heads)
    v32 = v.float().view(b, tk, heads, d)
    v_scale = v32.abs().amax(dim=1).clamp(min=1e-12) / E4M3_MAX  # (B, H, D)
    vt8 = (v32 / v_scale[:, None]).to(torch.float8_e4m3fn).view(b, tk, inner).transpose(1, 2).contiguous()
    return q8, k8, vt8, q_scale, k_scale, v_scale.reshape(b * heads, d).contiguous()


def attention_fp8(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head with 8-bit matrix products; q (B, Tq, H*D), k/v (B, Tk, H*D)."""
    b, tq, inner = q.shape
    tk, d = k.shape[1], inner // heads
    q8, k8, vt8, q_scale, k_scale, v_scale = quantize(q, k, v, heads)
    out = torch.empty(b, tq, inner, dtype=q.dtype, device=q.device)
    desc = lambda t, block: TensorDescriptor(t, list(t.shape), list(t.stride()), block)  # noqa: E731 (pre_hook sets)
    grid = (triton.cdiv(tq, BLOCK), b * heads)
    kernel = _attn_fwd_fp8.fn if INTERPRETED else _attn_fwd_fp8  # the CPU interpreter cannot autotune
    extra = {"BLOCK_M": BLOCK} if INTERPRETED else {}
    kernel[grid](desc(q8, [1, BLOCK, d]), desc(k8, [1, BLOCK, d]), desc(vt8, [1, d, BLOCK]),
                        desc(out, [1, BLOCK, d]), q_scale, k_scale, v_scale, heads, tq, tk, q_scale.shape[1],
                        k_scale.shape[1], D=d, **extra)  # fmt: skip
    return out
