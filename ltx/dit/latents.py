"""Latent <-> token layouts and token positions for LTX-2.

Video latents (B, 128, F', H', W') are tokens in (f, h, w) order. Each token covers one latent
frame and a 32x32 pixel patch; its time bounds are pixel frames [8f-7, 8f+1) (the causal VAE's
first latent frame covers frame 0 alone: [0, 1)), divided by fps to give seconds.
Audio latents (B, 8, T', 16) are tokens of 8*16 = 128 features (channel-major); token i covers
mel frames [max(0, 4i-3), 4i+1), at 100 mel frames per second (hop 160 at 16 kHz): 25 tokens/s.
"""

from __future__ import annotations

import torch
from einops import rearrange

from ltx.audio.timing import HOP as AUDIO_HOP
from ltx.audio.timing import LATENT_DOWNSAMPLE as AUDIO_DOWNSAMPLE
from ltx.audio.timing import SAMPLE_RATE as AUDIO_RATE

VIDEO_SCALE = (8, 32, 32)  # pixel frames, rows, columns per latent cell


# The official patterns (ltx-core's and ltx-video's patchifiers), with their unit patch axes: the views they make
# differ from the plain patterns' in the stride of a size-1 batch, which decides whether the convolutions downstream
# (the upsampler's, the decoder's) run channels-last, on the CPU (another algorithm) and on the GPU (another kernel)
def patchify_video(latent: torch.Tensor) -> torch.Tensor:
    return rearrange(latent, "b c (f p1) (h p2) (w p3) -> b (f h w) (c p1 p2 p3)", p1=1, p2=1, p3=1)


def unpatchify_video(tokens: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    return rearrange(tokens, "b (f h w) (c p q) -> b c f (h p) (w q)", f=frames, h=height, w=width, p=1, q=1)


def patchify_audio(latent: torch.Tensor) -> torch.Tensor:
    return rearrange(latent, "b c t f -> b t (c f)")


def unpatchify_audio(tokens: torch.Tensor, channels: int = 8, mel_bins: int = 16) -> torch.Tensor:
    return rearrange(tokens, "b t (c f) -> b c t f", c=channels, f=mel_bins)


def video_positions(frames: int, height: int, width: int, fps: float, batch: int = 1, device=None) -> torch.Tensor:
    """(B, 3, F'*H'*W', 2) float32 [start, end) bounds: time in seconds, rows and columns in pixels.

    frames/height/width are LATENT sizes.
    """
    grid = torch.meshgrid(
        torch.arange(frames, device=device),
        torch.arange(height, device=device),
        torch.arange(width, device=device),
        indexing="ij",
    )
    starts = torch.stack(grid).flatten(1)  # (3, T) latent cell indices
    bounds = torch.stack([starts, starts + 1], dim=-1)  # (3, T, 2)
    pixels = bounds * torch.tensor(VIDEO_SCALE, device=bounds.device).view(3, 1, 1)
    pixels[0] = (pixels[0] + 1 - VIDEO_SCALE[0]).clamp(min=0)  # causal first frame
    pixels = pixels.float()
    pixels[0] = pixels[0] / fps
    return pixels.unsqueeze(0).expand(batch, -1, -1, -1).clone()


def audio_positions(tokens: int, batch: int = 1, shift: int = 0, device=None) -> torch.Tensor:
    """(B, 1, T, 2) float32 [start, end) bounds in seconds of audio latent tokens shift..shift+T."""

    def seconds(first: int) -> torch.Tensor:
        mel = torch.arange(first, first + tokens, dtype=torch.float32, device=device) * AUDIO_DOWNSAMPLE
        mel = (mel + 1 - AUDIO_DOWNSAMPLE).clip(min=0)
        return mel * AUDIO_HOP / AUDIO_RATE

    bounds = torch.stack([seconds(shift), seconds(shift + 1)], dim=-1)  # (T, 2)
    return bounds.view(1, 1, tokens, 2).expand(batch, -1, -1, -1).clone()


def video_token_count(frames: int, height: int, width: int) -> int:
    """Tokens for a PIXEL-space clip of `frames` = 1 + 8k frames and H, W multiples of 32."""
    return ((frames - 1) // VIDEO_SCALE[0] + 1) * (height // VIDEO_SCALE[1]) * (width // VIDEO_SCALE[2])
