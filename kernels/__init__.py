"""Fused kernels behind small call sites; imported as `ltx_kernels`.

The model calls only the functions exported here. Each has a PyTorch reference with the same
signature (in the module named after it); the dispatcher picks a Triton kernel on CUDA once one is
registered for the case at hand, and the reference everywhere else, so CPU results never change.
"""

from ltx_kernels.attention import attention
from ltx_kernels.fp8 import fp8_linear
from ltx_kernels.norm import rms_norm_modulate

__all__ = ["attention", "fp8_linear", "rms_norm_modulate"]
