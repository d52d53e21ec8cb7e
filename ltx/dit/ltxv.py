"""The LTX-Video 0.9.x transformer (2B, 13B): one video stream, T5 text, per-token timesteps.

Per block, with (shift, scale, gate) x 2 from the token's AdaLN rows (6 per token) plus the block's table:
  1. self-attention   x += attn1(norm(x) * (1 + scale) + shift) * gate       (QK-RMSNorm, interleaved RoPE)
  2. text attention   x += attn2(x, text)                                   (the un-normalised x; no gate)
  3. feed-forward     x += ff(norm(x) * (1 + scale') + shift') * gate'      (GELU-tanh)
then the output: proj_out(layer_norm(x) * (1 + scale) + shift) with (shift, scale) from the embedded timestep.
RoPE positions are the tokens' (frame, y, x) points, divided by max_pos (not the bounds' midpoints of LTX-2).

STG (spatio-temporal guidance) as 0.9.x skips layers, per block and per sample (`STG`):
- "attention_values": the self-attention's output becomes its value projection;
- "attention_skip": the self-attention's output becomes its input (to_out still applies);
- "residual": as ltx-video 0.1.2 computes it, changes nothing (its attention has no residual connection to drop);
- "transformer_block": the block's output becomes its input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ltx.checkpoint import TRANSFORMER_PREFIX, Checkpoint, CheckpointError, load_state
from ltx.config.base import ConfigError
from ltx.config.ltxv import LTXVConfig, is_ltxv
from ltx.dit.loading import keep_stored_dtype
from ltx.nn import AdaLNSingle, Attention, CaptionProjection, FeedForward, Rope, install_fp8_layers, rope

STG_STRATEGIES = ("attention_values", "attention_skip", "residual", "transformer_block")
MASK_BIAS = -10000.0  # what a masked-out key adds to the scores (the official conversion of a 0/1 mask)


@dataclass(frozen=True)
class STG:
    """Skip layers `strategy` in `blocks` for `samples` (None: every sample of the batch)."""

    strategy: str
    blocks: tuple[int, ...]
    samples: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STG_STRATEGIES:
            raise ValueError(f"STG strategy must be one of {STG_STRATEGIES}, got {self.strategy!r}")

    def keep(self, block: int, batch: int, like: torch.Tensor) -> torch.Tensor | None:
        """(B, 1, 1): 0 for the samples this block skips, 1 elsewhere; None when the block skips none."""
        if block not in self.blocks:
            return None
        keep = torch.ones(batch, 1, 1, device=like.device, dtype=like.dtype)
        for i in range(batch) if self.samples is None else self.samples:
            keep[i].fill_(0)
        return keep


def _norm(x: torch.Tensor, kind: str, eps: float) -> torch.Tensor:
    """The blocks' parameter-free norms (diffusers' RMSNorm arithmetic, as ltx-video uses it)."""
    if kind == "layer_norm":
        return F.layer_norm(x, (x.shape[-1],), eps=eps)
    return (x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _bias(mask: torch.Tensor | None, dtype: torch.dtype, heads: int) -> torch.Tensor | None:
    """A (B, S) 0/1 mask -> the additive (B, heads, 1, S) bias, one copy per head as ltx-video makes it (the GPU's
    attention reads a broadcast (B, 1, 1, S) bias through other kernels); a float bias passes as given."""
    if mask is None or mask.dim() != 2:
        return mask
    bias = ((1 - mask.to(dtype)) * MASK_BIAS)[:, None]
    return bias.repeat_interleave(heads, dim=0).view(mask.shape[0], heads, 1, mask.shape[1])


class Block(nn.Module):
    def __init__(self, cfg: LTXVConfig):
        super().__init__()
        d, eps = cfg.dim, 1e-5
        self.cfg = cfg  # (norm1 and norm2 have no parameters)
        # (diffusers' RMSNorm: q and k rounded before their weights, which matters in bf16)
        self.attn1 = Attention(d, None, cfg.heads, cfg.head_dim, eps, gated=False, norm_rounds_first=True)
        self.attn2 = Attention(d, cfg.cross_attention_dim, cfg.heads, cfg.head_dim, eps, gated=False,
                               norm_rounds_first=True)  # fmt: skip
        self.ff = FeedForward(d)
        self.scale_shift_table = nn.Parameter(torch.empty(6, d))

    def forward(self, x, rope: Rope, text, text_bias, self_bias, adaln, stg: STG | None, index: int):
        cfg, b = self.cfg, x.shape[0]
        rows = self.scale_shift_table[None, None] + adaln.reshape(b, adaln.shape[1], 6, -1)
        shift, scale, gate, shift_ff, scale_ff, gate_ff = rows.unbind(dim=2)
        keep = None if stg is None else stg.keep(index, b, x)
        h = _norm(x, cfg.norm, cfg.norm_eps) * (1 + scale) + shift
        skip = {"attention_values": "value", "attention_skip": "input"}.get(stg.strategy) if keep is not None else None
        out = self.attn1(h, mask=self_bias, rope=rope, keep=keep if skip else None, keep_with=skip or "value")
        y = out * gate + x
        y = self.attn2(y, text, mask=text_bias) + y
        h = _norm(y, cfg.norm, cfg.norm_eps) * (1 + scale_ff) + shift_ff
        y = self.ff(h) * gate_ff + y
        if keep is not None and stg.strategy == "transformer_block":
            y = y * keep + x * (1.0 - keep)
        return y


class LTXVTransformer(nn.Module):
    def __init__(self, cfg: LTXVConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.patchify_proj = nn.Linear(cfg.in_channels, d)
        self.adaln_single = AdaLNSingle(d, 6)
        self.caption_projection = CaptionProjection(cfg.caption_channels, d)
        self.transformer_blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.scale_shift_table = nn.Parameter(torch.empty(2, d))
        self.proj_out = nn.Linear(d, cfg.out_channels)

    def forward(
        self,
        latent: torch.Tensor,
        positions: torch.Tensor,
        context: torch.Tensor,
        timesteps: torch.Tensor,
        *,
        context_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        stg: STG | None = None,
    ) -> torch.Tensor:
        """Velocity (B, T, out_channels) of latent tokens (B, T, in_channels) at `positions` (B, 3, T) (frame,
        y, x points in the units of max_pos), text (B, S, caption_channels) with an optional (B, S) 0/1
        `context_mask`, timesteps (B, T) or (B, 1) noise levels in [0, 1]; `attention_mask` (B, T) 0/1 masks
        keys of the self-attention."""
        cfg = self.cfg
        b, t, c = latent.shape
        if c != cfg.in_channels or positions.shape != (b, 3, t) or context.shape[-1] != cfg.caption_channels:
            raise ValueError(
                f"expected latent (B, T, {cfg.in_channels}), positions (B, 3, T), context (B, S, "
                f"{cfg.caption_channels}); got {tuple(latent.shape)}, {tuple(positions.shape)}, {tuple(context.shape)}"
            )
        if stg is not None and any(not 0 <= i < cfg.num_layers for i in stg.blocks):
            raise ValueError(f"STG blocks {stg.blocks} outside the model's {cfg.num_layers} blocks")
        x = self.patchify_proj(latent)
        dtype = x.dtype
        r = rope(positions, dim=cfg.dim, heads=cfg.heads, max_pos=cfg.max_pos, theta=cfg.theta, split=False,
                 float64=False, dtype=dtype, midpoint=False)  # fmt: skip
        adaln, embedded = self.adaln_single((cfg.timestep_scale_multiplier * timesteps).flatten(), dtype)
        adaln, embedded = adaln.view(b, -1, adaln.shape[-1]), embedded.view(b, -1, embedded.shape[-1])
        text = self.caption_projection(context).view(b, -1, cfg.dim)
        text_bias, self_bias = _bias(context_mask, dtype, cfg.heads), _bias(attention_mask, dtype, cfg.heads)
        (x,) = self.run_blocks(x, r, text, text_bias, self_bias, adaln, stg)
        shift, scale = (self.scale_shift_table[None, None] + embedded[:, :, None]).unbind(2)
        return self.proj_out(F.layer_norm(x, (cfg.dim,), eps=1e-6) * (1 + scale) + shift)

    def run_blocks(self, x, rope: Rope, text, text_bias, self_bias, adaln, stg: STG | None) -> tuple[torch.Tensor]:
        """The block loop (ltx.runtime compiles the blocks and captures this as one CUDA graph)."""
        for i, block in enumerate(self.transformer_blocks):
            x = block(x, rope, text, text_bias, self_bias, adaln, stg, i)
        return (x,)


def load_ltxv_transformer(
    path: str | os.PathLike | Checkpoint,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.bfloat16,
) -> LTXVTransformer:
    """The transformer of an LTX-Video 0.9.x single-file checkpoint (`model.diffusion_model.*`), strict."""
    ckpt = path if isinstance(path, Checkpoint) else Checkpoint(path)
    section = ckpt.section("transformer")
    if section is None:
        raise CheckpointError(f"{ckpt.path}: has no 'config' metadata with a 'transformer' section")
    if not is_ltxv(section):
        raise CheckpointError(
            f"{ckpt.path}: its transformer config is not LTX-Video 0.9.x's (_class_name Transformer3DModel): an LTX-2 "
            "file loads with ltx.load_transformer"
        )
    try:
        cfg = LTXVConfig.from_metadata(section)
    except ConfigError as e:
        raise CheckpointError(f"{ckpt.path}: {e}") from None
    owned = {k for k in ckpt.tensors if k.startswith(TRANSFORMER_PREFIX)}
    stored = {k[len(TRANSFORMER_PREFIX) :]: ckpt.tensors[k].dtype for k in owned}
    with torch.device("meta"):
        model = LTXVTransformer(cfg)
        model.fp8_layers = install_fp8_layers(model, stored)  # the fp8 files: float8 linears, per layer
    keys = {name: TRANSFORMER_PREFIX + name for name in model.state_dict()}
    what = f"LTX-Video transformer ({cfg.num_layers} blocks of {cfg.heads} x {cfg.head_dim})"
    return load_state(model, ckpt, keys, owned, device=device, dtype=dtype, what=what, keep_dtype=keep_stored_dtype)
