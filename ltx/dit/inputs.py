"""What the transformer takes: one `Stream` per modality, and optional perturbations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Skip = Literal["video_self_attn", "audio_self_attn", "a2v", "v2a"]
SKIPS: tuple[str, ...] = ("video_self_attn", "audio_self_attn", "a2v", "v2a")


@dataclass(frozen=True)
class Stream:
    """One modality's tokens and conditioning for a forward pass.

    latent:     (B, T, C) patchified latent tokens (noisy tokens and any appended conditioning tokens).
    sigma:      (B,) the sample's noise level; the other stream's cross-attention AdaLN and the
                2.3 prompt AdaLN read it. A 0-d tensor or float is broadcast over the batch.
    timesteps:  (B, T) or (B, T, 1) per-token noise level, usually denoise_mask * sigma.
    positions:  (B, axes, T, 2) [start, end) bounds: video (t seconds, y px, x px), audio (t seconds).
    context:    (B, S, C_text) text features (caption_channels for 19B files, the stream width for 2.3).
    context_mask:   optional (B, S) with 1 = attend (bool/int), or a float additive bias.
    attention_mask: optional (B, T, T) self-attention strengths in [0, 1] (0 = blocked).
    enabled:    False freezes this stream's tokens for the pass (the official guider's step skip):
                its blocks do not run, but the other stream still attends to it.
    keyframes_mask: optional (B, T) or (B, T, 1), video only: non-zero on tokens whose latent frame encodes a
                single pixel frame (the clip's first latent frame, generated keyframe slots); models with
                `use_keyframes_abs_pos_embedding` (LTX-2.5) add their learned keyframe vector to those tokens,
                other models ignore it (as the official does).
    """

    latent: torch.Tensor
    sigma: torch.Tensor | float
    timesteps: torch.Tensor
    positions: torch.Tensor
    context: torch.Tensor
    context_mask: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    enabled: bool = True
    keyframes_mask: torch.Tensor | None = None


@dataclass(frozen=True)
class Perturbation:
    """Skip one kind of attention in some blocks for some samples (STG, modality isolation).

    skip="video_self_attn"/"audio_self_attn": the self-attention output becomes its value projection.
    skip="a2v"/"v2a": that cross-modal residual is dropped.
    blocks / samples: block indices and batch indices it applies to; None means all.
    """

    skip: Skip
    blocks: tuple[int, ...] | None = None
    samples: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.skip not in SKIPS:
            raise ValueError(f"unknown perturbation {self.skip!r}; choose from {SKIPS}")


def keep_flags(perturbations: Sequence[Perturbation], skip: str, block: int, batch: int) -> tuple[bool, ...] | None:
    """Per sample: True = run normally. None when nothing is perturbed (the common case)."""
    keep = [True] * batch
    for p in perturbations:
        if p.skip == skip and (p.blocks is None or block in p.blocks):
            for i in range(batch) if p.samples is None else p.samples:
                if not 0 <= i < batch:
                    raise ValueError(f"perturbation sample index {i} out of range for batch {batch}")
                keep[i] = False
    return None if all(keep) else tuple(keep)
