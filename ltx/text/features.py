"""From Gemma's hidden states (embeddings + every layer's output) to the connectors' input features.

v1 (LTX-2.0): per sample and layer, 8 (x - mean) / (max - min + 1e-6) over the valid tokens and all
channels; flattened (channels, layers) with the layer index fastest; padded tokens zeroed; one
projection (no bias), the same features for both streams.
v2 (LTX-2.3): per token and layer, x / rms(x) over the channels; flattened the same way; padded
tokens zeroed; a projection per stream (with bias) of the features scaled by sqrt(out / hidden).
The arithmetic runs in the hidden states' dtype, as the official code's does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ltx.config.text import TextConfig


def stack_layers(hidden_states) -> torch.Tensor:
    """A sequence of (B, T, D) states -> (B, T, D, L)."""
    return torch.stack(tuple(hidden_states), dim=-1) if isinstance(hidden_states, (list, tuple)) else hidden_states


def minmax_features(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """v1 normalisation of (B, T, D, L) states with a (B, T) mask -> (B, T, D * L)."""
    b, t, d, _ = x.shape
    valid = mask.bool()[:, :, None, None]
    count = (mask.sum(dim=-1) * d).view(b, 1, 1, 1)
    mean = x.masked_fill(~valid, 0.0).sum(dim=(1, 2), keepdim=True) / (count + 1e-6)
    low = x.masked_fill(~valid, float("inf")).amin(dim=(1, 2), keepdim=True)
    high = x.masked_fill(~valid, float("-inf")).amax(dim=(1, 2), keepdim=True)
    out = (8 * (x - mean) / (high - low + 1e-6)).reshape(b, t, -1)
    return out.masked_fill(~valid[..., 0], 0.0)


def rms_features(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """v2 normalisation of (B, T, D, L) states with a (B, T) mask -> (B, T, D * L)."""
    b, t, d, n = x.shape
    out = (x * torch.rsqrt(torch.mean(x**2, dim=2, keepdim=True) + 1e-6)).reshape(b, t, d * n)
    return torch.where(mask.bool().unsqueeze(-1), out, torch.zeros_like(out))


class FeatureExtractor(nn.Module):
    """Parameter names follow the file's `text_embedding_projection.*` keys."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.version == "v1":
            self.aggregate_embed = nn.Linear(cfg.features, cfg.video.dim, bias=False)
        else:
            self.video_aggregate_embed = nn.Linear(cfg.features, cfg.video.dim)
            self.audio_aggregate_embed = nn.Linear(cfg.features, cfg.audio.dim) if cfg.audio else None

    def forward(self, hidden_states, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hidden states ((B, T, D) per layer, or stacked (B, T, D, L)) -> (video, audio) features."""
        x = stack_layers(hidden_states)
        if x.shape[2:] != (self.cfg.gemma_hidden, self.cfg.gemma_layers + 1):
            raise ValueError(
                f"text features: expected hidden states of {self.cfg.gemma_layers + 1} layers x "
                f"{self.cfg.gemma_hidden} channels, got {x.shape[3]} x {x.shape[2]}"
            )
        if self.cfg.version == "v1":
            features = self.aggregate_embed(minmax_features(x, mask).to(x.dtype))
            return features, features if self.cfg.audio else None
        normed = rms_features(x, mask).to(x.dtype)
        video = self.video_aggregate_embed(normed * math.sqrt(self.cfg.video.dim / self.cfg.gemma_hidden))
        if self.audio_aggregate_embed is None:
            return video, None
        audio = self.audio_aggregate_embed(normed * math.sqrt(self.cfg.audio.dim / self.cfg.gemma_hidden))
        return video, audio
