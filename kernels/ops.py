"""The Triton kernels as torch custom operators (`ltx_kernels::*`, torch.library).

torch.compile then sees each kernel as one opaque call whose output it knows from the fake (shape-only)
implementation below, so it traces through our call sites instead of breaking the graph at them and fuses
the PyTorch ops around them; a CUDA graph captures them like any other op. The dispatcher in
`ltx_kernels` calls these; the Triton launchers stay plain functions (`triton_*` modules).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.library import custom_op


@custom_op("ltx_kernels::attention", mutates_args=())
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None) -> torch.Tensor:
    from ltx_kernels.triton_attention import attention_triton

    return attention_triton(q, k, v, heads, mask)


@attention.register_fake
def _(q, k, v, heads, mask):
    return torch.empty_like(q)


@custom_op("ltx_kernels::attention_tma", mutates_args=())
def attention_tma(q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
    from ltx_kernels.triton_attention_tma import attention_triton_tma

    return attention_triton_tma(q, k, v, heads)


@attention_tma.register_fake
def _(q, k, v, heads):
    return torch.empty(q.shape, dtype=q.dtype, device=q.device)


@custom_op("ltx_kernels::attention_fp8", mutates_args=())
def attention_fp8(q: Tensor, k: Tensor, v: Tensor, heads: int, two_level: bool = True) -> Tensor:
    from ltx_kernels.triton_attention_fp8 import attention_fp8 as launch

    return launch(q, k, v, heads, two_level)


@attention_fp8.register_fake
def _(q, k, v, heads, two_level=True):
    return torch.empty(q.shape, dtype=q.dtype, device=q.device)


@custom_op("ltx_kernels::rms_norm_modulate", mutates_args=())
def rms_norm_modulate(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    from ltx_kernels.triton_norm import rms_norm_modulate_triton

    return rms_norm_modulate_triton(x, scale, shift, eps)


@rms_norm_modulate.register_fake
def _(x, scale, shift, eps):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@custom_op("ltx_kernels::gated_residual", mutates_args=())
def gated_residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    from ltx_kernels.triton_norm import gated_residual_triton

    return gated_residual_triton(x, y, gate)


@gated_residual.register_fake
def _(x, y, gate):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@custom_op("ltx_kernels::qk_norm_rope", mutates_args=())
def qk_norm_rope(
    x: torch.Tensor,
    weight: torch.Tensor,
    eps: float,
    cos: torch.Tensor | None,
    sin: torch.Tensor | None,
    split: bool,
) -> torch.Tensor:
    from ltx_kernels.triton_rope import qk_norm_rope_triton

    return qk_norm_rope_triton(x, weight, eps, cos, sin, split)


@qk_norm_rope.register_fake
def _(x, weight, eps, cos, sin, split):
    return torch.empty_like(x)


@custom_op("ltx_kernels::neighborhood_attention", mutates_args=())
def neighborhood_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel: list[int], scale: float | None
) -> torch.Tensor:
    from ltx_kernels.triton_na import neighborhood_attention_triton

    return neighborhood_attention_triton(q, k, v, tuple(kernel), scale)


@neighborhood_attention.register_fake
def _(q, k, v, kernel, scale):
    return torch.empty_like(q)


@custom_op("ltx_kernels::fp8_linear", mutates_args=())
def fp8_linear(x: Tensor, weight: Tensor, w_scale: Tensor, x_scale: Tensor | None, bias: Tensor | None) -> Tensor:
    from ltx_kernels.triton_fp8 import fp8_linear_triton

    return fp8_linear_triton(x, weight, w_scale, x_scale, bias)


@fp8_linear.register_fake
def _(x, weight, w_scale, x_scale, bias):
    return x.new_empty((*x.shape[:-1], weight.shape[0]))
