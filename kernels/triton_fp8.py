"""FP8 (e4m3) linear layers on the GPU: activations quantised in one Triton pass, the matmul on the FP8
tensor cores (torch._scaled_mm, cuBLAS), the bias added in its epilogue, bf16 out.

Static: x / input_scale rounded to e4m3 (the official scaled-fp8 files' static activation scale).
Per token: each row scaled by amax / 448 (for layers without an input scale).
Weights: e4m3 (out, in) with a per-tensor (0-d) or per-output-channel (out,) scale.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

E4M3_MAX = 448.0


@triton.jit
def _quant_static(X, Q, inv_scale, N, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < N
    x = tl.load(X + offs, mask=ok, other=0.0).to(tl.float32) * tl.load(inv_scale)
    tl.store(Q + offs, tl.clamp(x, -448.0, 448.0).to(Q.dtype.element_ty), mask=ok)


@triton.jit
def _quant_rows(X, Q, Scales, K, BLOCK_K: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_K)
    ok = cols < K
    x = tl.load(X + row * K + cols, mask=ok, other=0.0).to(tl.float32)
    scale = tl.maximum(tl.max(tl.abs(x), 0), 1e-12) / 448.0
    tl.store(Scales + row, scale)
    tl.store(Q + row * K + cols, tl.clamp(x / scale, -448.0, 448.0).to(Q.dtype.element_ty), mask=ok)


def quantize_static(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (any shape) / scale rounded to e4m3, same shape."""
    x = x.contiguous()
    q = torch.empty(x.shape, dtype=torch.float8_e4m3fn, device=x.device)
    inv = (1.0 / scale.float()).reshape(1)
    _quant_static[(triton.cdiv(x.numel(), 4096),)](x, q, inv, x.numel(), BLOCK=4096, num_warps=8)
    return q


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, K) -> (e4m3 (M, K), float32 scales (M, 1)) with x ~= q * scale per row."""
    m, k = x.shape
    x = x.contiguous()
    q = torch.empty((m, k), dtype=torch.float8_e4m3fn, device=x.device)
    scales = torch.empty((m, 1), dtype=torch.float32, device=x.device)
    block = triton.next_power_of_2(k)
    _quant_rows[(m,)](x, q, scales, k, BLOCK_K=block, num_warps=8 if block <= 8192 else 16)
    return q, scales


def fp8_linear_triton(
    x: torch.Tensor,
    weight: torch.Tensor,
    weight_scale: torch.Tensor,
    input_scale: torch.Tensor | None,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """x (..., in) @ (weight * weight_scale)^T + bias -> (..., out) in x's dtype."""
    lead, k = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, k)
    n = weight.shape[0]
    if bias is not None and x.dtype == torch.float32:  # cuBLAS's FP8 GEMM adds no bias into a float32 output
        return fp8_linear_triton(x, weight, weight_scale, input_scale, None) + bias.float()
    bias = None if bias is None else bias.to(x.dtype)
    w_scale = weight_scale.float()
    if input_scale is not None and w_scale.numel() == 1:
        q = quantize_static(x2, input_scale)
        out = torch._scaled_mm(q, weight.t(), scale_a=input_scale.float().reshape(()), scale_b=w_scale.reshape(()),
                               bias=bias, out_dtype=x.dtype)  # fmt: skip
    else:
        if input_scale is not None:  # a static input scale with per-channel weights: use it per row
            q, a_scale = quantize_static(x2, input_scale), input_scale.float().reshape(1, 1).expand(x2.shape[0], 1)
        else:
            q, a_scale = quantize_rows(x2)
        b_scale = w_scale.reshape(1, -1).expand(1, n).contiguous()
        out = torch._scaled_mm(q, weight.t(), scale_a=a_scale.contiguous(), scale_b=b_scale, bias=bias,
                               out_dtype=x.dtype)  # fmt: skip
    return out.reshape(*lead, n)
