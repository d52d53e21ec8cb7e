"""The LTX-2.5 duration head: how long the shot a prompt describes should last, predicted from the
text connectors' outputs (the video and/or audio contexts the transformer would attend to).

  video (B, Tv, cross_attention_dim) -> Linear -> + video modality embedding  \\
  audio (B, Ta, audio_cross_attention_dim) -> Linear -> + audio modality embedding  -> concat on T
  -> multi-head attention of `num_queries` learned queries over those tokens (no mask: the connectors
     leave no padding) -> flatten -> Linear -> GELU (tanh) -> Linear -> log seconds -> exp

`predict_frames` turns seconds into a frame count the way the official pipelines do: round(s * fps),
clamped to [round(1 s * fps), round(20 s * fps)], floored to 8k + 1 frames (raised to the next such
count if the floor fell under the minimum).

File: the `duration_head.*` keys (their own file in LTX-2.5, or inside a single file), with the
connector widths in `config["transformer"]` and the head's own sizes in an optional
`config["duration_head"]`; the attention weights are in torch's nn.MultiheadAttention layout.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ltx.checkpoint import Checkpoint, CheckpointError, load_state
from ltx.config import ConfigError
from ltx.files import expect

PREFIX = "duration_head."
MIN_SECONDS, MAX_SECONDS = 1.0, 20.0  # the official pipelines' clamp (--auto-duration)


@dataclass(frozen=True)
class DurationHeadConfig:
    """Defaults are the official ones, used where the file's config leaves a key out."""

    cross_attention_dim: int = 4096  # the video connector's output width (config["transformer"])
    audio_cross_attention_dim: int = 2048  # the audio connector's (config["transformer"])
    pooler_hidden_dim: int = 256  # the rest: config["duration_head"]
    num_queries: int = 1
    num_pooler_heads: int = 4
    mlp_hidden: int = 256

    def __post_init__(self) -> None:
        if self.pooler_hidden_dim % self.num_pooler_heads:
            raise ConfigError(
                f"duration head: pooler_hidden_dim {self.pooler_hidden_dim} is not divisible by "
                f"num_pooler_heads {self.num_pooler_heads}"
            )
        if min(dataclasses.astuple(self)) < 1:
            raise ConfigError(f"duration head: every size must be positive, got {self}")

    @classmethod
    def from_metadata(cls, config: dict[str, Any]) -> DurationHeadConfig:
        """From a file's whole `config` dict."""
        transformer, head = config.get("transformer", {}), config.get("duration_head", {})
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(
            **{k: transformer[k] for k in ("cross_attention_dim", "audio_cross_attention_dim") if k in transformer},
            **{k: v for k, v in head.items() if k in known - {"cross_attention_dim", "audio_cross_attention_dim"}},
        )

    def to_metadata(self) -> dict[str, Any]:
        """A `config` both official loaders read back as this config."""
        own = dataclasses.asdict(self)
        dims = {k: own.pop(k) for k in ("cross_attention_dim", "audio_cross_attention_dim")}
        return {"transformer": dims, "duration_head": own}


class AttentionPooler(nn.Module):
    """`num_queries` learned tokens attend (multi-head) to the input tokens."""

    def __init__(self, dim: int, num_queries: int, num_heads: int):
        super().__init__()
        self.query_tokens = nn.Parameter(torch.empty(num_queries, dim))
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        queries = self.query_tokens.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        return self.cross_attn(queries, tokens, tokens, need_weights=False)[0]


class DurationHead(nn.Module):
    def __init__(self, cfg: DurationHeadConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.pooler_hidden_dim
        self.video_input_proj = nn.Linear(cfg.cross_attention_dim, d)
        self.video_modality_emb = nn.Parameter(torch.empty(d))
        self.audio_input_proj = nn.Linear(cfg.audio_cross_attention_dim, d)
        self.audio_modality_emb = nn.Parameter(torch.empty(d))
        self.attention_pooler = AttentionPooler(d, cfg.num_queries, cfg.num_pooler_heads)
        self.mlp_hidden = nn.Linear(d * cfg.num_queries, cfg.mlp_hidden)
        self.mlp_out = nn.Linear(cfg.mlp_hidden, 1)

    def forward(self, video: torch.Tensor | None = None, audio: torch.Tensor | None = None) -> torch.Tensor:
        """Seconds (B,) from the video and/or audio contexts (B, T, width), any number of tokens."""
        self._check(video, audio)
        groups = []
        if video is not None:
            groups.append(self.video_input_proj(video) + self.video_modality_emb)
        if audio is not None:
            groups.append(self.audio_input_proj(audio) + self.audio_modality_emb)
        pooled = self.attention_pooler(torch.cat(groups, dim=1)).flatten(1)
        hidden = nn.functional.gelu(self.mlp_hidden(pooled), approximate="tanh")
        return self.mlp_out(hidden).squeeze(-1).exp()

    def _check(self, video: torch.Tensor | None, audio: torch.Tensor | None) -> None:
        if video is None and audio is None:
            raise ValueError("the duration head needs the video context, the audio context or both; got neither")
        batch = None
        for name, x, width in (
            ("video", video, self.cfg.cross_attention_dim),
            ("audio", audio, self.cfg.audio_cross_attention_dim),
        ):
            if x is None:
                continue
            if x.ndim != 3 or x.shape[2] != width or x.shape[1] == 0:
                raise ValueError(f"{name} context must be (B, T > 0, {width}), got {tuple(x.shape)}")
            if batch is not None and x.shape[0] != batch:
                raise ValueError(f"video and audio contexts hold different batch sizes: {batch} and {x.shape[0]}")
            batch = x.shape[0]


def seconds_to_frames(
    seconds: float, fps: float, min_seconds: float = MIN_SECONDS, max_seconds: float = MAX_SECONDS, time_scale: int = 8
) -> int:
    """round(seconds * fps) clamped to the rounded bounds, floored to 1 + time_scale * k frames;
    raised to the next such count when the floor falls under the lower bound (never above the upper)."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds} and {max_seconds}")
    if not math.isfinite(seconds):
        raise ValueError(f"the predicted duration is not a number ({seconds}); check the duration head's weights")
    least, most = round(min_seconds * fps), round(max_seconds * fps)
    frames = max(least, min(round(seconds * fps), most))
    if frames < 1:
        raise ValueError(f"{min_seconds} s at {fps} fps is less than one frame; raise min_seconds")
    snapped = (frames - 1) // time_scale * time_scale + 1
    if snapped < least:
        snapped = min(-(-(least - 1) // time_scale) * time_scale + 1, most)
    return snapped


def predict_frames(
    head: DurationHead,
    video: torch.Tensor | None,
    audio: torch.Tensor | None,
    fps: float,
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
) -> list[int]:
    """The frame count of each sample's shot at `fps` (see the module docstring)."""
    if not (fps > 0 and math.isfinite(fps)):  # before any work
        raise ValueError(f"fps must be a positive number, got {fps}")
    with torch.no_grad():
        seconds = head(video, audio).float().tolist()
    return [seconds_to_frames(s, fps, min_seconds, max_seconds) for s in seconds]


def load_duration_head(
    path: str | os.PathLike | Checkpoint,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> DurationHead:
    """The `duration_head.*` weights of a file, strictly (every key of the head, nothing else under it)."""
    ckpt = expect(path, "duration_head")
    owned = {k for k in ckpt.tensors if k.startswith(PREFIX)}
    if not owned:
        held = ", ".join(sorted(ckpt.components)) or "no tensors"
        raise CheckpointError(
            f"{ckpt.path}: holds no duration head (no keys under {PREFIX!r}; it ships from LTX-2.5 on, in its own "
            f"file); it holds: {held}"
        )
    cfg = DurationHeadConfig.from_metadata(ckpt.config)
    with torch.device("meta"):
        module = DurationHead(cfg)
    keys = {name: PREFIX + name for name in module.state_dict()}
    return load_state(module, ckpt, keys, owned, device=device, dtype=dtype, what="duration head")
