"""QK RMSNorm (weight over the whole inner dim) followed by the rotary embedding: PyTorch references.

Tables: interleaved layout cos/sin (B, T, H*D), pairs (2i, 2i+1) rotated; split layout cos/sin (B or 1, H, T, D/2),
channel i of each head rotated with channel i + D/2.
"""

import torch
import torch.nn.functional as F
from einops import rearrange


def rotate_ref(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, split: bool) -> torch.Tensor:
    """Rotate x (B, T, H*D) by the table."""
    if not split:
        pairs = rearrange(x, "... (d two) -> ... d two", two=2)
        x1, x2 = pairs.unbind(-1)
        rotated = rearrange(torch.stack((-x2, x1), dim=-1), "... d two -> ... (d two)")
        return x * cos + rotated * sin
    (b, t, _), h = x.shape, cos.shape[1]  # the table may be shared by the batch (batch dim 1)
    halves = x.reshape(b, t, h, 2, -1).transpose(1, 2)  # (B, H, T, 2, D/2)
    first, second = halves[..., :1, :], halves[..., 1:, :]
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
    out = halves * cos
    out[..., :1, :].addcmul_(-sin, second)  # first*cos - second*sin
    out[..., 1:, :].addcmul_(sin, first)  # second*cos + first*sin
    return out.flatten(-2).transpose(1, 2).reshape(b, t, -1)


def qk_norm_rope_ref(x, weight, eps: float, cos=None, sin=None, split: bool = False) -> torch.Tensor:
    """rms_norm(x) * weight over the last dim, then rotated by (cos, sin) when given."""
    x = F.rms_norm(x, (x.shape[-1],), weight, eps)
    return x if cos is None else rotate_ref(x, cos, sin, split)
