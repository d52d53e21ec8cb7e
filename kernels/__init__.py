"""Fused kernels behind small call sites; imported as `ltx_kernels`.

The model calls only the functions exported here. Each has a PyTorch reference with the same signature
(`*_ref` in the module named after it) and, on CUDA, a Triton kernel (`triton_*` modules). The dispatcher
runs the Triton kernel for CUDA tensors it supports and the reference everywhere else, so CPU results
never change; a CUDA call it cannot serve says why once (one line, logged) and runs the reference. The
kernels are registered as torch custom operators (`ltx_kernels.ops`), so torch.compile traces through them.
Gradients flow through every call site: the kernels are forward-only and take the reference's backward
(`ltx_kernels.autograd`).

Settings (`settings()`, changed for a block with `use(...)`; the environment gives the starting values):
- mode: "auto" (Triton on CUDA), "reference" (LTX_KERNELS=reference: the references everywhere, the exact
  mode; attention on CUDA through SDPA in ltx-core 1.2.0's backend order), "triton" (Triton wherever called: on
  the CPU under TRITON_INTERPRET=1, for tests);
- attention: the attention path on CUDA, auto|triton|cudnn|flash|efficient|int8-fp8|int8-fp8-one-level
  (LTX_ATTENTION; default below; int8-fp8 is opt-in: Q K^T in int8 and P V in e4m3, a few % error, see
  triton_attention_fp8; -one-level keeps the P V sum in the FP8 tensor cores' accumulator: an experiment,
  ~1 % faster and 6-20x the error in the 19B's velocity, bench/KERNELS.md);
- fp8_cast_gemm: run fp8-cast weights on the FP8 tensor cores (LTX_FP8_CAST_GEMM=1; see ltx.nn.linear).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from ltx_kernels import ops
from ltx_kernels.attention import attention_ref
from ltx_kernels.autograd import differentiable
from ltx_kernels.fp8 import fp8_linear_ref
from ltx_kernels.norm import gated_residual_ref, rms_norm_modulate_ref
from ltx_kernels.rope import qk_norm_rope_ref

# "auto": cuDNN's attention (596-621 TFLOP/s at d=128 from 2048 tokens on the H200; our Triton kernels 398-462,
# with TMA 446-513; the flash backend ltx-core gets 334-354), except where ours are the fastest: a per-query bias
# (the IC-LoRA strength mask: 345 vs 316 TFLOP/s), an unmasked side of at most SHORT_SIDE tokens (the audio
# stream's 126: a2v 77-119 vs 51-53, v2a 58-73 vs 53) and both sides of at most SHORT_BOTH (1024: 302-324 vs
# 183): bench/results/kernels/2026-12-01-h200-attention.json, -attention-sweep.json
ATTENTION_DEFAULT = "auto"
SHORT_SIDE, SHORT_BOTH = 256, 1024
MODES = ("auto", "reference", "triton")
ATTENTION_BACKENDS = ("auto", "triton", "cudnn", "flash", "efficient", "int8-fp8", "int8-fp8-one-level")
log = logging.getLogger("ltx_kernels")


@dataclass(frozen=True)
class Settings:
    mode: str = "auto"
    attention: str = ATTENTION_DEFAULT
    fp8_cast_gemm: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"kernel mode must be one of {MODES}, got {self.mode!r} (LTX_KERNELS?)")
        if self.attention not in ATTENTION_BACKENDS:
            raise ValueError(f"attention must be one of {ATTENTION_BACKENDS}, got {self.attention!r} (LTX_ATTENTION?)")

    @classmethod
    def from_env(cls) -> Settings:
        return cls(os.environ.get("LTX_KERNELS", "auto"), os.environ.get("LTX_ATTENTION", ATTENTION_DEFAULT),
                   os.environ.get("LTX_FP8_CAST_GEMM") == "1")  # fmt: skip


_settings = Settings.from_env()


def settings() -> Settings:
    return _settings


@contextlib.contextmanager
def use(**changes) -> Iterator[Settings]:
    """Within the block, these settings (mode=, attention=, fp8_cast_gemm=); the previous ones after."""
    global _settings
    saved, _settings = _settings, dataclasses.replace(_settings, **changes)
    try:
        yield _settings
    finally:
        _settings = saved


_noted: set[tuple[str, str]] = set()


def _fallback(site: str, reason: str) -> None:
    """Say once per call site and reason why a CUDA call runs the reference."""
    if (site, reason) not in _noted:
        _noted.add((site, reason))
        log.warning("ltx_kernels.%s: %s; running the PyTorch reference", site, reason)


def _triton(*tensors) -> bool:
    """Whether the Triton kernels may run on these tensors (the call site then checks the shapes)."""
    mode = _settings.mode
    if mode == "reference" or (mode == "auto" and not all(t.is_cuda for t in tensors)):
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        if mode == "triton" or any(t.is_cuda for t in tensors):
            _fallback("triton", "triton is not installed")
        return False
    return True


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None):
    """softmax(q k^T / sqrt(d) + mask) v per head over (B, T, H*D) tensors (see attention_ref)."""
    if not _triton(q, k, v):
        if q.is_cuda:  # ltx-core 1.2.0's SDPA order where it has no FA3 / FA4: cuDNN, flash, efficient, math
            return _sdpa(q, k, v, heads, mask, "cudnn")
        return attention_ref(q, k, v, heads, mask)
    from ltx_kernels import triton_attention

    backend = _settings.attention if q.is_cuda else "triton"
    if backend.startswith("int8-fp8"):  # opt-in: 8-bit matrix products (ltx_kernels.triton_attention_fp8), no bias
        from ltx_kernels import triton_attention_fp8

        if mask is None and triton_attention_fp8.supported(q, k, v, heads):
            one_level = backend == "int8-fp8-one-level"
            return differentiable(_attention_fp8_one_level if one_level else _attention_fp8, attention_ref, q, k, v,
                                  heads, None)  # fmt: skip
        backend = "auto"  # (a mask, a key length off 16: the default choice)
    if backend == "auto":
        per_query_bias = mask is not None and mask.dim() == 4 and mask.shape[-2] > 1
        lengths = (q.shape[1], k.shape[1])
        short_side = mask is None and (min(lengths) <= SHORT_SIDE or max(lengths) <= SHORT_BOTH)
        backend = "triton" if (per_query_bias or short_side) and triton_attention.supported(q, k, heads) else "cudnn"
    if backend == "triton":
        if mask is None and q.is_cuda:
            from ltx_kernels import triton_attention_tma

            if triton_attention_tma.supported(q, k, v, heads):
                return differentiable(_attention_tma, attention_ref, q, k, v, heads, None)
        if triton_attention.supported(q, k, heads):
            return differentiable(ops.attention, attention_ref, q, k, v, heads, mask)
        _fallback("attention", f"head size {q.shape[-1] // heads} or a strided last axis is not supported")
        return attention_ref(q, k, v, heads, mask)
    return _sdpa(q, k, v, heads, mask, backend)


def _attention_tma(q, k, v, heads, mask):
    return ops.attention_tma(q, k, v, heads)  # (mask is None: the reference's signature, for the backward)


def _attention_fp8(q, k, v, heads, mask):
    return ops.attention_fp8(q, k, v, heads)


def _attention_fp8_one_level(q, k, v, heads, mask):
    return ops.attention_fp8(q, k, v, heads, False)


def _sdpa(q, k, v, heads, mask, backend: str):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    order = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
             "efficient": SDPBackend.EFFICIENT_ATTENTION}  # fmt: skip
    # the chosen backend first; the others where it cannot run the case (e.g. flash with a bias)
    with sdpa_kernel([order[backend], *[b for n, b in order.items() if n != backend], SDPBackend.MATH],
                     set_priority=True):  # fmt: skip
        return attention_ref(q, k, v, heads, mask)


def rms_norm_modulate(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    if _triton(x, scale, shift):
        if x.dim() == 3:
            return differentiable(ops.rms_norm_modulate, rms_norm_modulate_ref, x, scale, shift, eps)
        _fallback("rms_norm_modulate", f"a {x.dim()}-D input (the kernel takes (B, T, D))")
    return rms_norm_modulate_ref(x, scale, shift, eps)


def gated_residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    if _triton(x, y, gate):
        if x.dim() == 3 and y.shape == x.shape:
            return differentiable(ops.gated_residual, gated_residual_ref, x, y, gate)
        _fallback("gated_residual", "inputs other than two (B, T, D) tensors of one shape")
    return gated_residual_ref(x, y, gate)


def qk_norm_rope(x, weight, eps: float, cos=None, sin=None, split: bool = False, round_first: bool = False):
    """rms_norm(x) * weight, rotated by the RoPE table (cos, sin) when given (see qk_norm_rope_ref; `round_first`
    is the reference's: the fused kernel rounds once, within the low-precision budget either way)."""
    if _triton(x, weight):
        from ltx_kernels import triton_rope

        if x.dim() == 3 and x.shape[-1] % 2 == 0 and triton_rope.supported(x, cos, split):
            return differentiable(ops.qk_norm_rope, qk_norm_rope_ref, x, weight, eps, cos, sin, split)
        _fallback("qk_norm_rope", f"input {tuple(x.shape)} with this RoPE table layout is not supported")
    return qk_norm_rope_ref(x, weight, eps, cos, sin, split, round_first)


def _na_op(q, k, v, kernel, scale):
    return ops.neighborhood_attention(q, k, v, list(kernel), scale)


def neighborhood_attention(q, k, v, kernel: tuple[int, int, int], scale: float | None = None) -> torch.Tensor:
    """3-D neighbourhood attention over (B, T, H, W, heads, D) tensors (reference: ltx.nn.neighborhood)."""
    from ltx.nn.neighborhood import neighborhood_attention_ref

    if _triton(q, k, v):
        from ltx_kernels import triton_na

        if triton_na.supported(q, k, v, kernel):
            return differentiable(_na_op, neighborhood_attention_ref, q, k, v, kernel, scale)
        _fallback("neighborhood_attention", f"window {kernel} on {tuple(q.shape)} is not supported")
    return neighborhood_attention_ref(q, k, v, kernel, scale)


def fp8_linear(x, weight, weight_scale, input_scale, bias):
    """x @ (weight * weight_scale)^T + bias with e4m3 weights (see fp8_linear_ref)."""
    if _triton(x, weight) and x.is_cuda:  # (the GEMM itself is cuBLAS's FP8 one)
        if x.shape[-1] % 16 == 0 and weight.shape[0] % 16 == 0:
            return differentiable(ops.fp8_linear, fp8_linear_ref, x, weight, weight_scale, input_scale, bias)
        _fallback("fp8_linear", f"weight {tuple(weight.shape)}: the FP8 GEMM needs both sides multiples of 16")
    return fp8_linear_ref(x, weight, weight_scale, input_scale, bias)


__all__ = ["Settings", "attention", "fp8_linear", "gated_residual", "neighborhood_attention", "qk_norm_rope",
           "rms_norm_modulate", "settings", "use"]  # fmt: skip
