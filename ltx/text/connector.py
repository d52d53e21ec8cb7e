"""The embeddings connectors: a small 1-D transformer that turns the projected Gemma features into the
contexts the video and audio streams attend to.

The prompt's valid tokens are moved to the front (in order) and the padded tail is filled with
learnable registers (register i at position i, modulo their count); after that every token is
attended to. Unlike the official code, each sample of a batch keeps its own length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ltx.config.text import ConnectorConfig
from ltx.nn import Attention, FeedForward, rope


def _rms(x: torch.Tensor) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), eps=1e-6)


class ConnectorBlock(nn.Module):
    def __init__(self, cfg: ConnectorConfig):
        super().__init__()
        self.attn1 = Attention(cfg.dim, None, cfg.heads, cfg.head_dim, eps=1e-6, gated=cfg.gated)
        self.ff = FeedForward(cfg.dim, bias=cfg.ff_bias)

    def forward(self, x: torch.Tensor, table, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.attn1(_rms(x), mask=mask, rope=table) + x
        return self.ff(_rms(x)) + x


class EmbeddingsConnector(nn.Module):
    def __init__(self, cfg: ConnectorConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer_1d_blocks = nn.ModuleList(ConnectorBlock(cfg) for _ in range(cfg.layers))
        self.learnable_registers = nn.Parameter(torch.empty(cfg.registers, cfg.dim)) if cfg.registers else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, T, dim) features; mask: (B, T), 1 for prompt tokens. Returns (B, T, dim); every row
        is valid afterwards (with registers; without them the padded keys stay masked)."""
        bias = None
        if self.learnable_registers is not None:
            x = self.fill_with_registers(x, mask.bool())
        else:
            bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
            bias = bias.masked_fill(~mask.bool(), torch.finfo(x.dtype).min)[:, None, None, :]
        cfg, t = self.cfg, x.shape[1]
        positions = torch.arange(t, dtype=torch.float32, device=x.device)[None, None, :]
        table = rope(positions, dim=cfg.dim, heads=cfg.heads, max_pos=cfg.max_pos, theta=cfg.theta,
                     split=cfg.rope_type == "split", float64=cfg.float64, dtype=x.dtype)  # fmt: skip
        for block in self.transformer_1d_blocks:
            x = block(x, table, bias)
        return _rms(x)

    def fill_with_registers(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Each sample's valid tokens to the front, register (position mod count) in the tail."""
        b, t, _ = x.shape
        lengths = valid.sum(dim=1)  # (B,)
        # Stable order: valid tokens first, in their order (a stable sort of the inverted mask).
        order = torch.sort((~valid).to(torch.int8), dim=1, stable=True).indices
        packed = torch.gather(x, 1, order.unsqueeze(-1).expand_as(x))
        registers = self.learnable_registers.to(x.dtype)[torch.arange(t, device=x.device) % self.cfg.registers]
        tail = torch.arange(t, device=x.device)[None, :] >= lengths[:, None]  # (B, T)
        return torch.where(tail.unsqueeze(-1), registers.unsqueeze(0).expand(b, -1, -1), packed)
