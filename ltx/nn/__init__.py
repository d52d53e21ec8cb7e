"""Shared building blocks: norms, rotary embeddings, attention, AdaLN, MLPs, fp8 linears."""

from ltx.nn.adaln import AdaLNSingle, TimestepEmbedding, timestep_sinusoid
from ltx.nn.attention import Attention
from ltx.nn.linear import FP8CastLinear, ScaledFP8Linear, install_fp8_layers
from ltx.nn.mlp import CaptionProjection, FeedForward
from ltx.nn.rope import Rope, apply_rope, rope

__all__ = [
    "AdaLNSingle",
    "Attention",
    "CaptionProjection",
    "FP8CastLinear",
    "FeedForward",
    "Rope",
    "ScaledFP8Linear",
    "TimestepEmbedding",
    "apply_rope",
    "install_fp8_layers",
    "rope",
    "timestep_sinusoid",
]
