"""The latent being denoised, as tokens, and the conditioning that edits it.

A `LatentState` holds a modality's tokens (B, T, C), the per-token denoise strength (B, T, 1) (1 = generate,
0 = keep), token positions, the clean values the kept tokens return to, and an optional [0, 1]
self-attention mask. The first `target` tokens are the clip being generated; conditioning may append
tokens after them (keyframes, IC-LoRA references), which `strip` removes before decoding.

Positions follow the official pipelines exactly: the generated video tokens' positions are rounded to the
run's dtype (bf16 in a bf16 run), appended tokens' stay float32.
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

    @property
    def target(self) -> int:
        n = 1
        for s in self.grid:
            n *= s
        return n

    @property
    def is_video(self) -> bool:
        return len(self.grid) == 3


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
    if latent is None:
        latent = torch.zeros(shape, dtype=dtype, device=device)
    elif tuple(latent.shape) != tuple(shape):
        raise ValueError(f"initial video latent has shape {tuple(latent.shape)}, expected {tuple(shape)}")
    positions = video_pixel_bounds(f, h, w, causal=True, device=device).expand(b, -1, -1, -1).clone()
    positions[:, 0] = positions[:, 0] / fps
    tokens = patchify_video(latent)
    return LatentState(
        latent=tokens,
        mask=torch.ones(b, tokens.shape[1], 1, dtype=torch.float32, device=device),
        positions=positions.to(dtype),
        clean=tokens.clone(),
        grid=(f, h, w),
    )


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
    """Noise every token by its denoise strength x `scale` (one draw over all tokens, in the latent's dtype)."""
    x = state.latent
    noise = torch.randn(*x.shape, device=x.device, dtype=x.dtype, generator=generator)
    m = state.mask * scale
    return replace(state, latent=(noise * m + x * (1 - m)).to(x.dtype))


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
    )


# -- conditioning -----------------------------------------------------------------------------------
def replace_frames(state: LatentState, latent: torch.Tensor, strength: float, latent_index: int = 0) -> LatentState:
    """Put `latent` (B, C, F, H', W') at latent frame `latent_index` (an image at frame 0): those tokens
    start from it and are denoised with strength 1 - `strength` (1 keeps them)."""
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
    x, clean, mask = state.latent.clone(), state.clean.clone(), state.mask.clone()
    x[:, start:stop], clean[:, start:stop], mask[:, start:stop] = tokens, tokens, 1.0 - strength
    return replace(state, latent=x, clean=clean, mask=mask)


def _append(
    state: LatentState, tokens: torch.Tensor, positions: torch.Tensor, strength: float, attention
) -> LatentState:
    mask = torch.full((*tokens.shape[:2], 1), 1.0 - strength, device=tokens.device, dtype=tokens.dtype)
    return LatentState(
        latent=torch.cat([state.latent, tokens], dim=1),
        mask=torch.cat([state.mask, mask], dim=1),
        positions=torch.cat([state.positions, positions], dim=2),
        clean=torch.cat([state.clean, tokens], dim=1),
        grid=state.grid,
        attention=_grow_attention(state, tokens.shape[1], attention, tokens.dtype),
    )


def append_keyframe(
    state: LatentState,
    latent: torch.Tensor,
    frame: int,
    strength: float,
    fps: float,
    attention: float | torch.Tensor | None = None,
) -> LatentState:
    """Append `latent` (an encoded image or clip) as extra tokens placed at pixel frame `frame`."""
    _, _, f, h, w = latent.shape
    positions = video_pixel_bounds(f, h, w, causal=frame == 0, device=latent.device).expand(latent.shape[0], -1, -1, -1)
    positions = positions.clone()
    positions[:, 0] += frame
    positions[:, 0] /= fps
    return _append(state, patchify_video(latent), positions, strength, attention)


def append_reference(
    state: LatentState,
    latent: torch.Tensor,
    fps: float,
    downscale: int = 1,
    strength: float = 1.0,
    attention: float | torch.Tensor | None = None,
) -> LatentState:
    """Append an IC-LoRA reference video latent; its rows and columns are placed `downscale` times further
    apart (a reference at 1/downscale of the output size lines up with the output)."""
    _, _, f, h, w = latent.shape
    positions = video_pixel_bounds(f, h, w, causal=True, device=latent.device).expand(latent.shape[0], -1, -1, -1)
    positions = positions.clone()
    positions[:, 0] /= fps
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
