"""Latent upsamplers (their own files) and the AdaIN that LTX-Video's multi-scale pipeline applies.

The network works on UN-normalised latents: upsample_latents un-normalises with the VAE's
statistics, upsamples, and normalises again.
  spatial x2:    per-frame Conv2d to 4x channels + 2-D pixel shuffle
  rational x1.5: per-frame Conv2d to 9x channels, shuffle by 3, blur-downsample by 2
  temporal x2:   Conv3d to 2x channels + shuffle in time, first frame dropped
  both:          Conv3d to 8x channels + 3-D shuffle
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ltx.config import UpsamplerConfig
from ltx.vae.layers import PerChannelStatistics

_RATIONAL = {0.75: (3, 4), 1.5: (3, 2), 2.0: (2, 1), 4.0: (4, 1)}


class ResBlock(nn.Module):
    def __init__(self, channels: int, dims: int):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.conv1 = conv(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.GroupNorm(32, channels)
        self.conv2 = conv(channels, channels, kernel_size=3, padding=1)
        self.norm2 = nn.GroupNorm(32, channels)
        self.activation = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.activation(self.norm1(self.conv1(x)))
        return self.activation(self.norm2(self.conv2(h)) + x)


class PixelShuffle(nn.Module):
    """Channels -> the last `dims` axes, factor 2 (or `factor`) each."""

    def __init__(self, dims: int, factor: int = 2):
        super().__init__()
        self.dims, self.factor = dims, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.factor
        if self.dims == 3:
            return rearrange(x, "b (c p1 p2 p3) d h w -> b c (d p1) (h p2) (w p3)", p1=p, p2=p, p3=p)
        if self.dims == 2:
            return rearrange(x, "b (c p1 p2) h w -> b c (h p1) (w p2)", p1=p, p2=p)
        return rearrange(x, "b (c p1) f h w -> b c (f p1) h w", p1=p)


class BlurDownsample(nn.Module):
    """Depthwise 5x5 binomial blur with stride (anti-aliased downsampling)."""

    def __init__(self, stride: int, kernel_size: int = 5):
        super().__init__()
        self.stride, self.kernel_size = stride, kernel_size
        k = torch.tensor([math.comb(kernel_size - 1, i) for i in range(kernel_size)])
        k2d = k[:, None] @ k[None, :]
        self.register_buffer("kernel", (k2d / k2d.sum()).float()[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x
        weight = self.kernel.expand(x.shape[1], 1, self.kernel_size, self.kernel_size)
        return F.conv2d(x, weight, stride=self.stride, padding=self.kernel_size // 2, groups=x.shape[1])


class RationalResampler(nn.Module):
    def __init__(self, channels: int, scale: float):
        super().__init__()
        self.num, self.den = _RATIONAL[float(scale)]
        self.conv = nn.Conv2d(channels, self.num**2 * channels, kernel_size=3, padding=1)
        self.pixel_shuffle = PixelShuffle(2, self.num)
        self.blur_down = BlurDownsample(self.den)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W), or (B, C, F, H, W) frame by frame."""
        if x.ndim == 5:
            return _unfold_frames(self.blur_down(self.pixel_shuffle(self.conv(_fold_frames(x)))), x.shape[0])
        return self.blur_down(self.pixel_shuffle(self.conv(x)))


class LatentUpsampler(nn.Module):
    def __init__(self, cfg: UpsamplerConfig):
        super().__init__()
        self.cfg = cfg
        mid, dims = cfg.mid_channels, cfg.dims
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.initial_conv = conv(cfg.in_channels, mid, kernel_size=3, padding=1)
        self.initial_norm = nn.GroupNorm(32, mid)
        self.initial_activation = nn.SiLU()
        self.res_blocks = nn.ModuleList(ResBlock(mid, dims) for _ in range(cfg.num_blocks_per_stage))
        if cfg.spatial_upsample and cfg.temporal_upsample:
            self.upsampler = nn.Sequential(nn.Conv3d(mid, 8 * mid, kernel_size=3, padding=1), PixelShuffle(3))
        elif cfg.spatial_upsample and cfg.rational_resampler:
            self.upsampler = RationalResampler(mid, cfg.spatial_scale)
        elif cfg.spatial_upsample:
            self.upsampler = nn.Sequential(nn.Conv2d(mid, 4 * mid, kernel_size=3, padding=1), PixelShuffle(2))
        else:
            self.upsampler = nn.Sequential(nn.Conv3d(mid, 2 * mid, kernel_size=3, padding=1), PixelShuffle(1))
        self.post_upsample_res_blocks = nn.ModuleList(ResBlock(mid, dims) for _ in range(cfg.num_blocks_per_stage))
        self.final_conv = conv(mid, cfg.in_channels, kernel_size=3, padding=1)

    def _body(self, x: torch.Tensor, upsample) -> torch.Tensor:
        x = self.initial_activation(self.initial_norm(self.initial_conv(x)))
        for block in self.res_blocks:
            x = block(x)
        x = upsample(x)
        for block in self.post_upsample_res_blocks:
            x = block(x)
        return self.final_conv(x)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Un-normalised latents (B, C, F, H, W) -> upsampled, still un-normalised."""
        b = latent.shape[0]
        if self.cfg.dims == 2:  # the whole network frame by frame
            return _unfold_frames(self._body(_fold_frames(latent), self.upsampler), b)
        if self.cfg.temporal_upsample:
            return self._body(latent, lambda x: self.upsampler(x)[:, :, 1:])  # frame 0 stands for one pixel frame
        if isinstance(self.upsampler, RationalResampler):
            return self._body(latent, self.upsampler)
        return self._body(latent, lambda x: _unfold_frames(self.upsampler(_fold_frames(x)), b))


def _fold_frames(x: torch.Tensor) -> torch.Tensor:
    return rearrange(x, "b c f h w -> (b f) c h w")


def _unfold_frames(x: torch.Tensor, batch: int) -> torch.Tensor:
    return rearrange(x, "(b f) c h w -> b c f h w", b=batch)


def upsample_latents(
    latent: torch.Tensor, upsampler: LatentUpsampler, statistics: PerChannelStatistics
) -> torch.Tensor:
    """Normalised latents -> upsampled normalised latents, using the VAE's latent statistics."""
    return statistics.normalize(upsampler(statistics.un_normalize(latent)))


def adain(latent: torch.Tensor, reference: torch.Tensor, factor: float = 1.0) -> torch.Tensor:
    """Match each (sample, channel)'s mean and std (unbiased, over frames and pixels) to `reference`,
    then blend: lerp(latent, matched, factor). LTX-Video's multi-scale pipeline uses factor 1.

    One reduction per (sample, channel), as ltx-video computes it: a single reduction over dims (2, 3, 4)
    gives the same numbers on the CPU but adds in another order on the GPU."""
    matched = latent.clone()
    for i in range(latent.shape[0]):
        for c in range(latent.shape[1]):
            ref_std, ref_mean = torch.std_mean(reference[i, c], dim=None)
            std, mean = torch.std_mean(matched[i, c], dim=None)  # (the clone's layout, as ltx-video reads it)
            matched[i, c] = (matched[i, c] - mean) / std * ref_std + ref_mean
    return torch.lerp(latent, matched, factor)
