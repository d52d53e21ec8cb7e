"""Linear layers with float8 (e4m3) weights stored with per-tensor scales."""

import torch
import torch.nn.functional as F

E4M3_MAX = torch.finfo(torch.float8_e4m3fn).max


def quantize_static(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Round x to e4m3 on the grid `scale` (x ~= q * scale) and return q * scale in x's dtype."""
    q = (x.float() / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return (q.float() * scale).to(x.dtype)


def fp8_linear_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    weight_scale: torch.Tensor,
    input_scale: torch.Tensor | None,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """x @ (weight * weight_scale)^T + bias, with x first rounded to e4m3 on `input_scale` when given.

    weight: (out, in) float8 as stored in the official scaled-fp8 files; weight_scale, input_scale:
    0-d float32 dequantisation scales. This is the arithmetic of the official static-scale FP8
    matmul, done by dequantising in float32 (a real FP8 GEMM differs only by accumulation order
    and the final rounding).
    """
    if input_scale is not None:
        x = quantize_static(x, input_scale)
    w = (weight.float() * weight_scale).to(x.dtype)
    return F.linear(x, w, None if bias is None else bias.to(x.dtype))


def fp8_linear(x, weight, weight_scale, input_scale, bias):
    return fp8_linear_ref(x, weight, weight_scale, input_scale, bias)
