"""LTX-Video 0.9.x conditioning: images and video segments placed at any frame of the clip, each with a strength.

As ltx-video 0.1.2's LTXVideoPipeline.prepare_conditioning computes it, item by item in the order given:
- each item's pixels are resized (bilinear) to the clip's size and encoded (the posterior *sampled*);
- an item at frame 0 (an image, or a video: extension) is blended into the first latent frames by its strength
  (torch.lerp from the noise) and those tokens carry the strength;
- a video segment at a later frame (a multiple of 8) puts its latent frames past the first two in place the same
  way; its first two latent frames (one for an image), mixed with fresh noise by the strength, become extra tokens
  put before the clip's tokens, with their own positions (the segment's, shifted by its start frame). They are
  denoised with the clip and dropped before decoding.
A token's strength s makes it start at timestep 1 - s; s = 1 keeps it fixed (re-noised each step, see ltxv.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange

from ltx.dit.latents import patchify_video
from ltx.vae.video import VideoEncoder

PREFIX_FRAMES = 2  # a later video segment's leading latent frames that become extra tokens


@dataclass(frozen=True)
class LTXVCondition:
    """Pixels (1 or B, 3, F, H, W) in [-1, 1] with F = 8k + 1 (1: an image), starting at pixel frame `frame`."""

    media: torch.Tensor
    frame: int = 0
    strength: float = 1.0

    def check(self, index: int, frames: int, batch: int) -> None:
        name = f"conditions[{index}]"
        m = self.media
        if not isinstance(m, torch.Tensor) or m.ndim != 5 or m.shape[1] != 3 or m.shape[0] not in (1, batch):
            raise ValueError(f"{name}.media must be (1 or {batch}, 3, F, H, W) pixels in [-1, 1], got "
                             f"{tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__}")  # fmt: skip
        n = m.shape[2]
        if (n - 1) % 8:
            raise ValueError(f"{name}.media has {n} frames: it must have 8k + 1 (1, 9, 17, ...)")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"{name}.strength must be in [0, 1], got {self.strength}")
        if self.frame and n > 1 and self.frame % 8:
            raise ValueError(f"{name}: a video segment after frame 0 must start at a multiple of 8, got {self.frame}")
        if self.frame < 0 or self.frame + n > frames:
            raise ValueError(f"{name} covers frames {self.frame}..{self.frame + n - 1}, outside the clip's "
                             f"0..{frames - 1}")  # fmt: skip
        if not torch.isfinite(m).all():
            raise ValueError(f"{name}.media holds NaN or infinite values")


@dataclass
class Conditioned:
    tokens: torch.Tensor  # (B, N_extra + N, C): extra tokens first, then the clip's
    pixels: torch.Tensor  # (3, N_extra + N) integer pixel positions (frame, row, column)
    strength: torch.Tensor | None  # (B, N_extra + N) float32; None without conditions
    extra: int  # extra tokens to drop before decoding


def randn(shape, generator: torch.Generator | None, device, dtype=torch.float32) -> torch.Tensor:
    """Normal noise drawn on the generator's own device, then moved (a CPU generator gives a CUDA run the same noise
    as a CPU run, as diffusers' randn_tensor does for ltx-video)."""
    where = device if generator is None else generator.device
    return torch.randn(shape, generator=generator, device=where, dtype=dtype).to(device)


def pixel_positions(frames: int, height: int, width: int, scale: tuple[int, int, int], causal: bool):
    """(3, T) integer pixel positions of a latent grid's tokens (their top-left corner); with `causal` the frame
    is max(8f + 1 - 8, 0), the first latent frame standing for one pixel frame."""
    grid = torch.meshgrid(torch.arange(frames), torch.arange(height), torch.arange(width), indexing="ij")
    pixels = torch.stack(grid).flatten(1) * torch.tensor(scale)[:, None]
    if causal:
        pixels[0] = (pixels[0] + 1 - scale[0]).clamp(min=0)
    return pixels


def resize(media: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear, frame by frame, to (height, width) (unchanged when already that size)."""
    if tuple(media.shape[-2:]) == (height, width):
        return media
    n = media.shape[2]
    flat = F.interpolate(rearrange(media, "b c n h w -> (b n) c h w"), size=(height, width), mode="bilinear",
                         align_corners=False)  # fmt: skip
    return rearrange(flat, "(b n) c h w -> b c n h w", n=n)


def apply_conditions(
    grid: torch.Tensor,
    conditions,
    encoder: VideoEncoder | None,
    *,
    size: tuple[int, int],
    scale: tuple[int, int, int],
    causal: bool,
    generator: torch.Generator,
    aux_generator: torch.Generator | None,
    draw_dtype: torch.dtype = torch.float32,
) -> Conditioned:
    """Blend `conditions` (LTXVCondition, already checked) into the initial latents `grid` (B, C, F', H', W')."""
    b, _, f, h, w = grid.shape
    pixels = pixel_positions(f, h, w, scale, causal)
    if not conditions:
        return Conditioned(patchify_video(grid), pixels, None, 0)
    grid = grid.clone()
    mask = torch.zeros(b, f, h, w, dtype=torch.float32, device=grid.device)
    extra_tokens, extra_pixels, extra_mask = [], [], []
    weight = next(encoder.parameters())
    for item in conditions:
        media = resize(item.media, *size).to(weight.device, weight.dtype)
        latent = encoder(media, sample=True, generator=aux_generator).to(grid.dtype)
        s = item.strength
        if item.frame == 0:
            n = latent.shape[2]
            grid[:, :, :n] = torch.lerp(grid[:, :, :n], latent, s)
            mask[:, :n] = s
            continue
        if latent.shape[2] > 1:  # a later segment: all but its prefix in place
            start = item.frame // 8 + PREFIX_FRAMES
            stop = start + latent.shape[2] - PREFIX_FRAMES
            grid[:, :, start:stop] = torch.lerp(grid[:, :, start:stop], latent[:, :, PREFIX_FRAMES:], s)
            mask[:, start:stop] = s
            latent = latent[:, :, :PREFIX_FRAMES]
        latent = latent.expand(b, -1, -1, -1, -1)  # (ltx-video requires the item's batch to be the clip's here)
        noise = randn(latent.shape, generator, latent.device, draw_dtype).to(latent.dtype)
        extra_tokens.append(patchify_video(torch.lerp(noise, latent, s)))
        where = pixel_positions(*latent.shape[2:], scale, causal)
        where[0] += item.frame
        extra_pixels.append(where)
        extra_mask.append(torch.full(extra_tokens[-1].shape[:2], s, dtype=torch.float32, device=grid.device))
    strength = mask.flatten(1)
    return Conditioned(
        torch.cat([*extra_tokens, patchify_video(grid)], dim=1),
        torch.cat([*extra_pixels, pixels], dim=1),
        torch.cat([*extra_mask, strength], dim=1),
        sum(t.shape[1] for t in extra_tokens),
    )
