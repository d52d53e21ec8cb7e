"""Generated keyframe slots (LTX-2.5): extra video tokens in which the model generates single pixel frames.

A slot is one latent frame's worth of tokens (H' x W') appended after the clip and placed at one pixel frame t
alone: time span [t, t + 1) / fps over the full spatial grid, where a latent frame of the clip spans 8 frames.
Its tokens are generated from scratch (denoise strength 1), start from zeros or from given initial latents
(which the noiser then mixes with noise; their clean value, unused at strength 1, is zero), and are marked in the
state's `keyframes`, so that a model with the keyframe embedding (`use_keyframes_abs_pos_embedding`) adds its
learned vector to them. Only such models were trained for slots.

All slots of a state are appended in one call. After sampling, `slot_latents` reads them back, before `strip`
drops every appended token. Each slot is a standalone one-frame latent: neighbouring slots were never adjacent
frames, so decode each alone (the official DFR pipeline does run the spatial x2 upsampler over all of them as one
K-frame latent).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from ltx.dit.latents import VIDEO_SCALE, patchify_video, unpatchify_video
from ltx.sampling.state import LatentState, _grow_attention, video_pixel_bounds


def append_keyframe_slots(
    state: LatentState, frames: Sequence[int], fps: float, initial: torch.Tensor | None = None
) -> LatentState:
    """Append one generated keyframe slot per pixel frame of `frames` (increasing, inside the clip), starting
    from zeros or from `initial` (B, C, len(frames), H', W')."""
    frames = tuple(int(f) for f in frames)
    _check(state, frames, fps, initial)
    b, _, c = state.latent.shape
    h, w = state.grid[1:]
    per_slot, k = h * w, len(frames)
    device, dtype = state.latent.device, state.latent.dtype
    if initial is None:
        tokens = torch.zeros(b, k * per_slot, c, device=device, dtype=dtype)
    else:
        tokens = patchify_video(initial.to(device=device, dtype=dtype))
    # every slot: the full spatial grid, and the time span of its one pixel frame
    positions = video_pixel_bounds(1, h, w, causal=False, device=device).repeat(1, 1, k, 1)
    start = torch.tensor(frames, dtype=torch.float32, device=device).repeat_interleave(per_slot)
    positions[:, 0, :, 0] = start
    positions[:, 0, :, 1] = start + 1
    positions[:, 0] /= fps
    keyframes = state.keyframes if state.keyframes is not None else torch.zeros_like(state.mask)
    return LatentState(
        latent=torch.cat([state.latent, tokens], dim=1),
        mask=torch.cat([state.mask, state.mask.new_ones(b, k * per_slot, 1)], dim=1),
        positions=torch.cat([state.positions, positions.expand(b, -1, -1, -1)], dim=2),
        clean=torch.cat([state.clean, torch.zeros_like(tokens)], dim=1),
        grid=state.grid,
        attention=_grow_attention(state, k * per_slot, None, dtype),
        keyframes=torch.cat([keyframes, keyframes.new_ones(b, k * per_slot, 1)], dim=1),
        frozen=state.frozen,
    )


def slot_latents(state: LatentState) -> torch.Tensor | None:
    """The slots' latents as (B, C, K, H', W'), one latent frame per slot in the order they were given; None
    when the state has no slots."""
    index = _slot_tokens(state)
    if index is None:
        return None
    h, w = state.grid[1:]
    start, n = int(index[0]), index.numel()
    contiguous = bool((index == torch.arange(start, start + n, device=index.device)).all())
    tokens = state.latent[:, start : start + n] if contiguous else state.latent[:, index]
    # a frame at a time, then joined, as ltx-core extracts them: the joined tensor's memory layout is what the
    # upsampler's convolutions (on the GPU, their kernels) see
    per = h * w
    return torch.cat([unpatchify_video(tokens[:, i : i + per], 1, h, w) for i in range(0, n, per)], dim=2)


def _slot_tokens(state: LatentState) -> torch.Tensor | None:
    """Indices of the slot tokens: the appended tokens marked as keyframes (no other appended token is)."""
    if not state.is_video or state.keyframes is None:
        return None
    marked = state.keyframes[0, state.target :, 0] > 0
    if not marked.any():
        return None
    return state.target + marked.nonzero().flatten()


def _check(state: LatentState, frames: tuple[int, ...], fps: float, initial: torch.Tensor | None) -> None:
    if not state.is_video:
        raise ValueError("keyframe slots are video tokens: give a video state")
    if not frames:
        raise ValueError("give at least one pixel frame for the keyframe slots")
    clip = (state.grid[0] - 1) * VIDEO_SCALE[0] + 1
    if frames[0] < 0 or frames[-1] >= clip or any(b <= a for a, b in itertools.pairwise(frames)):
        raise ValueError(f"keyframe slot frames must increase within the clip's frames 0..{clip - 1}, got {frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if _slot_tokens(state) is not None:
        raise ValueError("the state already has keyframe slots: append all slots in one call")
    if initial is not None:
        b, _, c = state.latent.shape
        expected = (b, c, len(frames), *state.grid[1:])
        if tuple(initial.shape) != expected:
            raise ValueError(
                f"initial keyframe latents must be (B, C, K, H', W') = {expected} for {len(frames)} slots on this "
                f"state, got {tuple(initial.shape)}"
            )
