"""RMS normalisation with AdaLN modulation, and the gated residual: PyTorch references."""

import torch
import torch.nn.functional as F


def rms_norm_modulate_ref(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    """rms_norm(x) * (1 + scale) + shift, the norm without a weight; scale/shift broadcast over x."""
    return F.rms_norm(x, (x.shape[-1],), eps=eps) * (1 + scale) + shift


def gated_residual_ref(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """x + y * gate (gate broadcast over x)."""
    return x + y * gate
