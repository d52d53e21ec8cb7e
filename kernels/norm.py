"""RMS normalisation with AdaLN modulation."""

import torch
import torch.nn.functional as F


def rms_norm_modulate_ref(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> torch.Tensor:
    """rms_norm(x) * (1 + scale) + shift, the norm without a weight; scale/shift broadcast over x."""
    return F.rms_norm(x, (x.shape[-1],), eps=eps) * (1 + scale) + shift


def rms_norm_modulate(x, scale, shift, eps: float):
    return rms_norm_modulate_ref(x, scale, shift, eps)
