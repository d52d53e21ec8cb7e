"""Multi-head attention over (batch, tokens, heads*head_dim) tensors."""

import torch
import torch.nn.functional as F


def attention_ref(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None):
    """softmax(q k^T / sqrt(d) + mask) v per head.

    q: (B, Tq, H*D); k, v: (B, Tk, H*D); mask: additive bias broadcastable to (B, H, Tq, Tk), or None.
    Returns (B, Tq, H*D).
    """
    b, _, inner = q.shape
    d = inner // heads
    q, k, v = (t.view(b, -1, heads, d).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(b, -1, heads * d)


def attention(q, k, v, heads: int, mask=None):
    return attention_ref(q, k, v, heads, mask)
