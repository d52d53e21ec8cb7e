"""The latent being denoised, as tokens, and the conditioning that edits it.

A `LatentState` holds a modality's tokens (B, T, C), the per-token denoise strength (B, T, 1) (1 = generate,
0 = keep), token positions (float32), the clean values the kept tokens return to, and an optional [0, 1]
self-attention mask. The first `target` tokens are the clip being generated; conditioning may append
tokens after them (keyframes, IC-LoRA references), which `strip` removes before decoding.

Conditioning writes only the clean values and the strengths; the noiser then puts each token at
lerp(clean, lerp(latent, noise, scale), strength). Appended tokens hold zeros in `latent`, so at a noise
scale below 1 they start from scaled noise around their clean value, never from a stale latent.
A `frozen` state is held fixed: all strengths 0, and the transformer sees its sigma as 0.
`keyframes` (B, T, 1) marks the tokens that encode a single pixel frame (the first latent frame of the
generated clip); LTX-2.5 adds a learned embedding to them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ltx.dit.latents import (
    VIDEO_SCALE,
    audio_positions,
    patchify_audio,
    patchify_video,
    unpatchify_audio,
    unpatchify_video,
)


@dataclass(frozen=True)
class LatentState:
    latent: torch.Tensor  # (B, T, C)
    mask: torch.Tensor  # (B, T, 1) float32 denoise strength
    positions: torch.Tensor  # (B, axes, T, 2)
    clean: torch.Tensor  # (B, T, C)
    grid: tuple[int, ...]  # video (F', H', W') or audio (T',): the generated latent's shape
    attention: torch.Tensor | None = None  # (B, T, T) self-attention strengths
    keyframes: torch.Tensor | None = None  # (B, T, 1) single-pixel-frame tokens (video)
    frozen: bool = False  # held fixed: the transformer sees sigma 0 for this stream

    @property
    def target(self) -> int:
        n = 1
        for s in self.grid:
            n *= s
        return n

    @property
    def is_video(self) -> bool:
        return len(self.grid) == 3


def latent_grid(frames: int, height: int, width: int) -> tuple[int, int, int]:
    """The video latent's (F', H', W') for a clip of `frames` = 1 + 8k pixel frames of height x width."""
    t, h, w = VIDEO_SCALE
    return (frames - 1) // t + 1, height // h, width // w


def video_pixel_bounds(frames: int, height: int, width: int, causal: bool, device=None) -> torch.Tensor:
    """(1, 3, F*H*W, 2) pixel-space [start, end) bounds of latent cells (frames, rows, columns), float32;
    `causal`: the first latent frame covers pixel frame 0 alone."""
    grid = torch.meshgrid(*(torch.arange(n, device=device) for n in (frames, height, width)), indexing="ij")
    starts = torch.stack(grid).flatten(1)
    bounds = torch.stack([starts, starts + 1], dim=-1) * torch.tensor(VIDEO_SCALE, device=device).view(3, 1, 1)
    if causal:
        bounds[0] = (bounds[0] + 1 - VIDEO_SCALE[0]).clamp(min=0)
    return bounds.unsqueeze(0).float()


def video_state(
    latent: torch.Tensor | None,
    shape: tuple[int, int, int, int, int],
    fps: float,
    *,
    dtype: torch.dtype,
    device: torch.device | str,
) -> LatentState:
    """The state of a video latent of `shape` (B, C, F', H', W'): `latent`, or zeros to be noised."""
    b, c, f, h, w = shape
    if latent is not None and tuple(latent.shape) != tuple(shape):
        raise ValueError(f"initial video latent has shape {tuple(latent.shape)}, expected {tuple(shape)}")
    positions = video_pixel_bounds(f, h, w, causal=True, device=device).expand(b, -1, -1, -1).clone()
    positions[:, 0] = positions[:, 0] / fps
    # tokens in the official layouts: fresh ones contiguous, a given latent's a (B, T, C) view of it (a matmul over
    # the tokens can round the two layouts differently, bf16 on the CPU does; the noising keeps its first operand's)
    tokens = torch.zeros(b, f * h * w, c, dtype=dtype, device=device) if latent is None else patchify_video(latent)
    mask = torch.ones(b, tokens.shape[1], 1, dtype=torch.float32, device=device)
    keyframes = torch.zeros_like(mask)
    keyframes[:, : h * w] = 1.0  # the causal first latent frame covers pixel frame 0 alone
    return LatentState(latent=tokens, mask=mask, positions=positions, clean=tokens.clone(), grid=(f, h, w),
                       keyframes=keyframes)  # fmt: skip


def audio_state(
    latent: torch.Tensor | None, shape: tuple[int, int, int, int], *, dtype: torch.dtype, device: torch.device | str
) -> LatentState:
    """The state of an audio latent of `shape` (B, 8, T', 16)."""
    b, _, t, _ = shape
    if latent is None:
        latent = torch.zeros(shape, dtype=dtype, device=device)
    elif tuple(latent.shape) != tuple(shape):
        raise ValueError(f"initial audio latent has shape {tuple(latent.shape)}, expected {tuple(shape)}")
    tokens = patchify_audio(latent)
    return LatentState(
        latent=tokens,
        mask=torch.ones(b, t, 1, dtype=torch.float32, device=device),
        positions=audio_positions(t, batch=b, device=device),
        clean=tokens.clone(),
        grid=(t,),
    )


def add_noise(state: LatentState, generator: torch.Generator, scale: float | torch.Tensor = 1.0) -> LatentState:
    """lerp(clean, lerp(latent, noise, scale), strength) per token, in float32 (one draw over all tokens,
    in the latent's dtype): generated tokens from `latent` noised to `scale`, kept ones at their clean value."""
    x = state.latent
    noise = torch.randn(*x.shape, device=x.device, dtype=x.dtype, generator=generator)
    noised = torch.lerp(x.float(), noise.float(), float(scale))
    return replace(state, latent=torch.lerp(state.clean.float(), noised, state.mask).to(x.dtype))


def freeze(state: LatentState) -> LatentState:
    """Hold the state fixed: nothing denoised, and the transformer sees its sigma as 0."""
    return replace(state, mask=torch.zeros_like(state.mask), frozen=True)


def unpatchify(state: LatentState) -> torch.Tensor:
    """The generated tokens back as (B, C, F', H', W') video or (B, 8, T', 16) audio."""
    tokens = state.latent[:, : state.target]
    return unpatchify_video(tokens, *state.grid) if state.is_video else unpatchify_audio(tokens)


def strip(state: LatentState) -> LatentState:
    """Only the generated tokens (appended conditioning removed), all marked for generation."""
    n = state.target
    return LatentState(
        latent=state.latent[:, :n],
        mask=torch.ones_like(state.mask[:, :n]),
        positions=state.positions[:, :, :n],
        clean=state.clean[:, :n],
        grid=state.grid,
        frozen=state.frozen,
    )


# -- conditioning -----------------------------------------------------------------------------------
def replace_frames(state: LatentState, latent: torch.Tensor, strength: float, latent_index: int = 0) -> LatentState:
    """Make `latent` (B, C, F, H', W') the clean value of latent frame `latent_index` (an image at frame 0):
    those tokens are denoised with strength 1 - `strength` (1 keeps them exactly)."""
    if not state.is_video:
        raise ValueError("frame replacement applies to video")
    f, h, w = state.grid
    b, c = state.latent.shape[0], state.latent.shape[2]
    if (latent.shape[0], latent.shape[1], latent.shape[3], latent.shape[4]) != (b, c, h, w):
        raise ValueError(
            f"conditioning latent {tuple(latent.shape)} does not fit the video latent (B={b}, C={c}, H'={h}, W'={w}): "
            "encode the image at the generated size"
        )
    if not 0 <= latent_index or latent_index + latent.shape[2] > f:
        raise ValueError(f"latent frames {latent_index}..{latent_index + latent.shape[2] - 1} are outside 0..{f - 1}")
    tokens = patchify_video(latent)
    start = latent_index * h * w
    stop = start + tokens.shape[1]
    clean, mask = state.clean.clone(), state.mask.clone()
    clean[:, start:stop], mask[:, start:stop] = tokens, 1.0 - strength
    return replace(state, clean=clean, mask=mask)


def _append(
    state: LatentState, tokens: torch.Tensor, positions: torch.Tensor, strength: float, attention
) -> LatentState:
    """Append conditioning tokens: zeros in `latent`, their content as the clean value, never keyframe-marked."""
    mask = torch.full((*tokens.shape[:2], 1), 1.0 - strength, device=tokens.device, dtype=tokens.dtype)
    keyframes = None
    if state.keyframes is not None:
        keyframes = torch.cat([state.keyframes, state.keyframes.new_zeros(*tokens.shape[:2], 1)], dim=1)
    return LatentState(
        latent=torch.cat([state.latent, torch.zeros_like(tokens)], dim=1),
        mask=torch.cat([state.mask, mask], dim=1),
        positions=torch.cat([state.positions, positions], dim=2),
        clean=torch.cat([state.clean, tokens], dim=1),
        grid=state.grid,
        attention=_grow_attention(state, tokens.shape[1], attention, tokens.dtype),
        keyframes=keyframes,
        frozen=state.frozen,
    )


def append_keyframe(
    state: LatentState,
    latent: torch.Tensor,
    frame: int,
    strength: float,
    fps: float,
    attention: float | torch.Tensor | None = None,
    pixel_frames: int | None = 1,
) -> LatentState:
    """Append `latent` (an encoded image or clip) as extra tokens placed at pixel frame `frame`.
    `pixel_frames=1` (an encoded image, the default) makes each token span one pixel frame
    [frame, frame + 1); None keeps the VAE's 8-frame spans."""
    _, _, f, h, w = latent.shape
    positions = video_pixel_bounds(f, h, w, causal=frame == 0, device=latent.device).expand(latent.shape[0], -1, -1, -1)
    positions = positions.clone()
    positions[:, 0] += frame
    if pixel_frames == 1:
        positions[:, 0, :, 1] = positions[:, 0, :, 0] + 1
    positions[:, 0] /= fps
    return _append(state, patchify_video(latent), positions, strength, attention)


def append_reference(
    state: LatentState,
    latent: torch.Tensor,
    fps: float,
    downscale: int = 1,
    strength: float = 1.0,
    attention: float | torch.Tensor | None = None,
    temporal_scale: int = 1,
) -> LatentState:
    """Append an IC-LoRA reference video latent; its rows and columns are placed `downscale` times further
    apart (a reference at 1/downscale of the output size lines up with the output). A reference at
    1/`temporal_scale` of the frame rate is spread over time the same way, shifted so its last
    frame ends with the output's (times clamped at 0)."""
    _, _, f, h, w = latent.shape
    positions = video_pixel_bounds(f, h, w, causal=True, device=latent.device).expand(latent.shape[0], -1, -1, -1)
    positions = positions.clone()
    positions[:, 0] /= fps / temporal_scale
    if temporal_scale != 1:
        frame = state.positions[:, 0, 0:1, 1:2].float()  # one output frame in seconds
        positions[:, 0] = torch.clamp(positions[:, 0] - (temporal_scale - 1) * frame, min=0)
    if downscale != 1:
        positions[:, 1:] *= downscale
    return _append(state, patchify_video(latent), positions, strength, attention)


def time_region(state: LatentState, start: float, end: float, fps: float | None = None) -> LatentState:
    """Generate only the tokens whose time span overlaps [start, end) seconds; keep the others (retake)."""
    if state.is_video:
        if fps is None:
            raise ValueError("a video time region needs the fps")
        bounds = video_pixel_bounds(*state.grid, causal=True, device=state.mask.device)[0, 0] / fps
    else:
        bounds = audio_positions(state.grid[0], device=state.mask.device)[0, 0]
    inside = (bounds[:, 1] > start) & (bounds[:, 0] < end)
    mask = state.mask.clone()
    mask[:, : state.target] = inside.to(mask.dtype)[None, :, None]
    return replace(state, mask=mask)


def _cross_strengths(attention, batch: int, new: int, device, dtype) -> torch.Tensor:
    """A scalar, (M,) or (B or 1, M) attention strength for the new tokens -> (B, M)."""
    a = torch.as_tensor(attention, device=device, dtype=dtype)
    if a.ndim == 0:
        return a.expand(batch, new).clone()
    if a.ndim == 1 and a.shape[0] == new:
        return a.unsqueeze(0).expand(batch, -1)
    if a.ndim == 2 and a.shape[1] == new and a.shape[0] in (1, batch):
        return a.expand(batch, -1)
    raise ValueError(f"attention strengths must be a scalar, ({new},) or ({batch} or 1, {new}); got {tuple(a.shape)}")


def _grow_attention(state: LatentState, new: int, attention, dtype) -> torch.Tensor | None:
    """The self-attention mask with `new` appended tokens. The generated tokens and the new ones attend to
    each other with `attention`'s strength, the new ones fully to themselves, and not at all to tokens
    appended earlier. No mask asked for and none yet: None (everything attends to everything)."""
    if attention is None and state.attention is None:
        return None
    b, n, device = state.latent.shape[0], state.latent.shape[1], state.latent.device
    cross = _cross_strengths(1.0 if attention is None else attention, b, new, device, dtype)
    mask = torch.zeros(b, n + new, n + new, device=device, dtype=dtype)
    mask[:, :n, :n] = 1.0 if state.attention is None else state.attention
    mask[:, n:, n:] = 1.0
    t = state.target
    mask[:, :t, n:] = cross.unsqueeze(1)
    mask[:, n:, :t] = cross.unsqueeze(2)
    return mask
