"""Attention with QK-RMSNorm over all heads, rotary embeddings, optional per-head output gates."""

from __future__ import annotations

import ltx_kernels
import torch
from torch import nn

from ltx.nn.rope import Rope


class Attention(nn.Module):
    """Self- or cross-attention. Parameter names follow the official checkpoints.

    q_norm/k_norm are RMSNorms with a weight over the whole inner dim (all heads at once), applied
    before RoPE. With `gated`, each head's output is scaled by 2*sigmoid(to_gate_logits(x)) (LTX-2.3).
    `norm_rounds_first`: the norms round before their weight, as LTX-Video's (see ltx.nn.rope.qk_norm_rope).
    """

    def __init__(self, query_dim: int, context_dim: int | None, heads: int, head_dim: int, eps: float, gated: bool,
                 norm_rounds_first: bool = False):  # fmt: skip
        super().__init__()
        self.norm_rounds_first = norm_rounds_first
        inner = heads * head_dim
        context_dim = query_dim if context_dim is None else context_dim
        self.heads, self.head_dim = heads, head_dim
        self.q_norm = nn.RMSNorm(inner, eps=eps)
        self.k_norm = nn.RMSNorm(inner, eps=eps)
        self.to_q = nn.Linear(query_dim, inner)
        self.to_k = nn.Linear(context_dim, inner)
        self.to_v = nn.Linear(context_dim, inner)
        self.to_gate_logits = nn.Linear(query_dim, heads) if gated else None
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim))  # official key: to_out.0

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """softmax(q k^T / sqrt(d) + mask) v over (B, T, H*d) tensors: the seam where sequence parallelism
        (ltx.parallel) exchanges tokens and heads between processes."""
        return ltx_kernels.attention(q, k, v, self.heads, mask)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        rope: Rope | None = None,
        k_rope: Rope | None = None,
        keep: torch.Tensor | None = None,
        skip: bool = False,
        keep_with: str = "value",
    ) -> torch.Tensor:
        """x: (B, T, query_dim); context: (B, S, context_dim), default x; mask: additive bias.

        rope rotates q (and k, unless k_rope is given). STG: `skip=True` replaces the attention
        output by the value projection for the whole batch; `keep` (B, 1, 1) does so per sample
        where it is 0 (by x itself with `keep_with="input"`, LTX-Video's attention skip). The gate and
        to_out still apply.
        """
        context = x if context is None else context
        v = self.to_v(context)
        if skip:
            out = v
        else:
            # QK RMSNorm and RoPE in one call: one fused pass per tensor on the GPU
            k_table = rope if k_rope is None else k_rope
            q_rot = (rope.cos, rope.sin, rope.split) if rope is not None else (None, None, False)
            k_rot = (k_table.cos, k_table.sin, k_table.split) if rope is not None else (None, None, False)
            first = self.norm_rounds_first
            q = ltx_kernels.qk_norm_rope(self.to_q(x), self.q_norm.weight, self.q_norm.eps, *q_rot, round_first=first)
            k = ltx_kernels.qk_norm_rope(self.to_k(context), self.k_norm.weight, self.k_norm.eps, *k_rot,
                                         round_first=first)  # fmt: skip
            out = self.attend(q, k, v, mask)
            if keep is not None:
                out = out * keep + (v if keep_with == "value" else x) * (1 - keep)
        if self.to_gate_logits is not None:
            b, t, _ = out.shape
            gates = 2.0 * torch.sigmoid(self.to_gate_logits(x))  # (B, T, H)
            out = (out.view(b, t, self.heads, self.head_dim) * gates.unsqueeze(-1)).view(b, t, -1)
        return self.to_out(out)
