"""Fused kernels behind small call sites; imported as `ltx_kernels`.

The model calls only the functions exported here. Each has a PyTorch reference with the same signature
(`*_ref` in the module named after it) and, on CUDA, a Triton kernel (`triton_*` modules). The dispatcher
runs the Triton kernel for CUDA tensors it supports and the reference everywhere else, so CPU results
never change. LTX_KERNELS=reference forces the references; LTX_ATTENTION=auto|triton|cudnn|flash|efficient
picks the attention path on CUDA (default: see ATTENTION_DEFAULT).
"""

from __future__ import annotations

import os

import torch
from ltx_kernels.attention import attention_ref
from ltx_kernels.fp8 import fp8_linear_ref
from ltx_kernels.norm import gated_residual_ref, rms_norm_modulate_ref
from ltx_kernels.rope import qk_norm_rope_ref

# "auto": cuDNN's attention (597-600 TFLOP/s at d=128 on the H200, our Triton kernel 447-454, the flash
# backend ltx-core gets 346-351), except with a per-query bias (the IC-LoRA strength mask), where our kernel is
# the fastest (345 vs 314 TFLOP/s): bench/results/kernels/2026-11-21-h200-attention.json
ATTENTION_DEFAULT = "auto"


def _mode() -> str:
    return os.environ.get("LTX_KERNELS", "auto")


def _cuda(*tensors) -> bool:
    if _mode() == "reference" or not all(t.is_cuda for t in tensors):
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None):
    """softmax(q k^T / sqrt(d) + mask) v per head over (B, T, H*D) tensors (see attention_ref)."""
    if not _cuda(q, k, v):
        return attention_ref(q, k, v, heads, mask)
    from ltx_kernels import triton_attention

    backend = os.environ.get("LTX_ATTENTION", ATTENTION_DEFAULT)
    if backend == "auto":
        per_query_bias = mask is not None and mask.dim() == 4 and mask.shape[-2] > 1
        backend = "triton" if per_query_bias and triton_attention.supported(q, k, heads) else "cudnn"
    if backend == "triton" and triton_attention.supported(q, k, heads):
        return triton_attention.attention_triton(q, k, v, heads, mask)
    if backend in ("cudnn", "flash", "efficient"):
        return _sdpa(q, k, v, heads, mask, backend)
    return attention_ref(q, k, v, heads, mask)


def _sdpa(q, k, v, heads, mask, backend: str):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    order = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
             "efficient": SDPBackend.EFFICIENT_ATTENTION}  # fmt: skip
    # the chosen backend first; the others where it cannot run the case (e.g. flash with a bias)
    with sdpa_kernel([order[backend], *[b for n, b in order.items() if n != backend], SDPBackend.MATH],
                     set_priority=True):  # fmt: skip
        return attention_ref(q, k, v, heads, mask)


def rms_norm_modulate(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    if _cuda(x, scale, shift) and x.dim() == 3:
        from ltx_kernels.triton_norm import rms_norm_modulate_triton

        return rms_norm_modulate_triton(x, scale, shift, eps)
    return rms_norm_modulate_ref(x, scale, shift, eps)


def gated_residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    if _cuda(x, y, gate) and x.dim() == 3 and y.shape == x.shape:
        from ltx_kernels.triton_norm import gated_residual_triton

        return gated_residual_triton(x, y, gate)
    return gated_residual_ref(x, y, gate)


def qk_norm_rope(x, weight, eps: float, cos=None, sin=None, split: bool = False) -> torch.Tensor:
    """rms_norm(x) * weight, rotated by the RoPE table (cos, sin) when given (see qk_norm_rope_ref)."""
    if _cuda(x, weight) and x.dim() == 3 and x.shape[-1] % 2 == 0:
        from ltx_kernels import triton_rope

        if triton_rope.supported(x, cos, split):
            return triton_rope.qk_norm_rope_triton(x, weight, eps, cos, sin, split)
    return qk_norm_rope_ref(x, weight, eps, cos, sin, split)


def neighborhood_attention(q, k, v, kernel: tuple[int, int, int], scale: float | None = None) -> torch.Tensor:
    """3-D neighbourhood attention over (B, T, H, W, heads, D) tensors (reference: ltx.nn.neighborhood)."""
    if _cuda(q, k, v):
        from ltx_kernels import triton_na

        if triton_na.supported(q, k, v, kernel):
            return triton_na.neighborhood_attention_triton(q, k, v, kernel, scale)
    from ltx.nn.neighborhood import neighborhood_attention_ref

    return neighborhood_attention_ref(q, k, v, kernel, scale)


def fp8_linear(x, weight, weight_scale, input_scale, bias):
    """x @ (weight * weight_scale)^T + bias with e4m3 weights (see fp8_linear_ref)."""
    if _cuda(x, weight) and x.shape[-1] % 16 == 0 and weight.shape[0] % 16 == 0:
        from ltx_kernels.triton_fp8 import fp8_linear_triton

        return fp8_linear_triton(x, weight, weight_scale, input_scale, bias)
    return fp8_linear_ref(x, weight, weight_scale, input_scale, bias)


__all__ = ["attention", "fp8_linear", "gated_residual", "neighborhood_attention", "qk_norm_rope", "rms_norm_modulate"]
