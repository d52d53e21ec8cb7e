"""Conditioning added for LTX-2.5: a reference audio track appended as clean tokens (Dub-It), and a latent
mask that fixes chosen latent cells of the generated video to given values.

Dub-It hears the source clip's audio as extra audio tokens placed just BEFORE the generated track in time:
every reference token's [start, end) seconds are shifted by -(end of its last token + 0.04 s), so the
reference ends 40 ms before second 0 and never overlaps the generated audio. The tokens keep their clean
value (strength 1 by default) and are removed by `strip` before decoding, like every appended token.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ltx.dit.latents import audio_positions, patchify_audio, patchify_video
from ltx.sampling.state import LatentState, _append

REFERENCE_GAP = 0.04  # seconds between the end of the reference audio and the start of the generated audio


def audio_reference_positions(tokens: int, batch: int = 1, device=None) -> torch.Tensor:
    """(B, 1, tokens, 2) float32 [start, end) seconds of `tokens` reference audio tokens, ending REFERENCE_GAP
    seconds before time 0."""
    if tokens < 1:
        raise ValueError(f"the reference audio needs at least one latent token, got {tokens}")
    positions = audio_positions(tokens, batch=batch, device=device)
    end = positions[:, :, -1, 1].max().item()  # the reference's duration in seconds
    return positions - end - REFERENCE_GAP


def append_audio_reference(
    state: LatentState,
    latent: torch.Tensor,
    strength: float = 1.0,
    positions: torch.Tensor | None = None,
) -> LatentState:
    """Append a reference audio latent (B, 8, T_ref, 16) as tokens after the audio being generated, kept at
    their clean value with `strength` (1 = exactly; their denoise strength is 1 - strength). `positions`
    (B, 1, T_ref, 2) seconds default to `audio_reference_positions` (the Dub-It placement, before time 0).
    The reference may be longer or shorter than the generated track."""
    if state.is_video:
        raise ValueError("an audio reference is appended to the audio state, not the video state")
    b, c = state.latent.shape[0], state.latent.shape[2]
    if latent.ndim != 4 or latent.shape[0] != b or latent.shape[1] * latent.shape[3] != c or latent.shape[2] < 1:
        raise ValueError(
            f"reference audio latent has shape {tuple(latent.shape)}; expected (B={b}, 8, T_ref >= 1, 16) "
            "from the audio VAE encoder"
        )
    if not (isinstance(strength, (int, float)) and 0.0 <= strength <= 1.0):
        raise ValueError(f"reference audio strength must be in [0, 1], got {strength}")
    if not torch.isfinite(latent).all():
        raise ValueError("the reference audio latent holds NaN or Inf values")
    tokens = patchify_audio(latent)
    if positions is None:
        positions = audio_reference_positions(tokens.shape[1], batch=b, device=latent.device)
    elif tuple(positions.shape) != (b, 1, tokens.shape[1], 2):
        expected = (b, 1, tokens.shape[1], 2)
        raise ValueError(f"reference positions have shape {tuple(positions.shape)}, expected {expected}")
    return _append(state, tokens, positions.float(), strength, None)


def replace_masked(state: LatentState, latent: torch.Tensor, mask: torch.Tensor, strength: float = 1.0) -> LatentState:
    """Where `mask` (B, F', H', W') is 1, the generated video's clean value becomes `latent` (B, C, F', H', W')
    and those cells are denoised with strength 1 - `strength` (1 keeps them exactly); where it is 0 nothing
    changes. Fractional mask values blend both linearly. Appended tokens are left as they are."""
    if not state.is_video:
        raise ValueError("a latent mask applies to the video state")
    f, h, w = state.grid
    b, c = state.latent.shape[0], state.latent.shape[2]
    if tuple(latent.shape) != (b, c, f, h, w):
        raise ValueError(
            f"masked conditioning latent has shape {tuple(latent.shape)}, expected {(b, c, f, h, w)} "
            "(the generated video latent's shape)"
        )
    if tuple(mask.shape) != (b, f, h, w):
        raise ValueError(f"latent mask has shape {tuple(mask.shape)}, expected {(b, f, h, w)} (B, F', H', W')")
    if mask.is_floating_point() and not torch.isfinite(mask).all():
        raise ValueError("the latent mask holds NaN or Inf values")
    if bool((mask < 0).any() or (mask > 1).any()):
        raise ValueError("latent mask values must be in [0, 1] (1 = keep the given latent, 0 = generate)")
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise ValueError(f"mask strength must be in [0, 1], got {strength}")
    n = state.target
    m = patchify_video(mask.unsqueeze(1)).to(state.latent.dtype)  # (B, T, 1)
    keep = 1 - m
    clean, strengths = state.clean.clone(), state.mask.clone()
    clean[:, :n] = state.clean[:, :n] * keep + patchify_video(latent) * m
    strengths[:, :n] = state.mask[:, :n] * keep + (1.0 - strength) * m
    return replace(state, clean=clean, mask=strengths)
