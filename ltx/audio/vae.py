"""The audio VAE: log-mel spectrograms (B, 2, T, 64) <-> latents (B, 8, T', 16), T = 4T' - 3.

2-D convolutions over (time, mel) with the stereo channels as input channels, causal along time
(zero padding in front); two stride-2 downsamples (4x in time and mel); per-channel statistics on
the patchified latent (B, T', 8*16). Module names follow the official checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ltx.audio.timing import LATENT_DOWNSAMPLE
from ltx.config import AudioVAEConfig
from ltx.vae.layers import PixelNorm

# (left, right, top, bottom) zero padding of a k x k conv per causality axis; time is "height".
_PAD = {
    None: lambda p: (p // 2, p - p // 2, p // 2, p - p // 2),
    "width": lambda p: (p, 0, p // 2, p - p // 2),
    "width-compatibility": lambda p: (p, 0, p // 2, p - p // 2),
    "height": lambda p: (p // 2, p - p // 2, p, 0),
}
_DOWN_PAD = {None: (0, 1, 0, 1), "width": (2, 0, 0, 1), "height": (0, 1, 2, 0), "width-compatibility": (1, 0, 0, 1)}


def _norm(kind: str, channels: int) -> nn.Module:
    return PixelNorm(eps=1e-6) if kind == "pixel" else nn.GroupNorm(32, channels, eps=1e-6)


class CausalConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int, axis: str | None):
        super().__init__()
        self.padding = _PAD[axis](kernel_size - 1)
        self.conv = nn.Conv2d(cin, cout, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.padding))


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cfg: AudioVAEConfig):
        super().__init__()
        axis = cfg.causality_axis
        self.norm1 = _norm(cfg.norm_type, cin)
        self.conv1 = CausalConv2d(cin, cout, 3, axis)
        self.norm2 = _norm(cfg.norm_type, cout)
        self.conv2 = CausalConv2d(cout, cout, 3, axis)
        self.non_linearity = nn.SiLU()
        self.nin_shortcut = CausalConv2d(cin, cout, 1, axis) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.non_linearity(self.norm1(x)))
        h = self.conv2(self.non_linearity(self.norm2(h)))
        return (x if self.nin_shortcut is None else self.nin_shortcut(x)) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all (time, mel) positions, residual."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.norm = _norm(norm, channels)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(channels, channels, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1).contiguous()
        weights = torch.bmm(q, k.reshape(b, c, hh * ww).contiguous()) * (int(c) ** (-0.5))
        weights = torch.softmax(weights, dim=2).permute(0, 2, 1).contiguous()
        out = torch.bmm(v.reshape(b, c, hh * ww).contiguous(), weights).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


def _attn(channels: int, cfg: AudioVAEConfig) -> nn.Module:
    return AttnBlock(channels, cfg.norm_type) if cfg.attn_type == "vanilla" else nn.Identity()


class Downsample(nn.Module):
    def __init__(self, channels: int, cfg: AudioVAEConfig):
        super().__init__()
        self.with_conv, self.pad = cfg.resamp_with_conv, _DOWN_PAD[cfg.causality_axis]
        if self.with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.with_conv:
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        return self.conv(F.pad(x, self.pad))


class Upsample(nn.Module):
    """Nearest x2 then a causal conv; along a causal time axis the first row is dropped so that
    T rows become 2T - 1 (the first output row sees only padding and the first input row)."""

    def __init__(self, channels: int, cfg: AudioVAEConfig):
        super().__init__()
        self.axis = cfg.causality_axis
        self.conv = CausalConv2d(channels, channels, 3, self.axis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        if self.axis == "height":
            return x[:, :, 1:]
        return x[:, :, :, 1:] if self.axis == "width" else x


class _Stage(nn.Module):
    """One resolution level: residual blocks, attention after each (at attn_resolutions), resampler."""

    def __init__(self, blocks: list[ResnetBlock], attns: list[nn.Module], resample: nn.Module | None, name: str):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attns)
        if resample is not None:
            setattr(self, name, resample)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if len(self.attn):
                x = self.attn[i](x)
        return x


class _Mid(nn.Module):
    def __init__(self, channels: int, cfg: AudioVAEConfig):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, cfg)
        self.attn_1 = _attn(channels, cfg) if cfg.mid_block_add_attention else nn.Identity()
        self.block_2 = ResnetBlock(channels, channels, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class AudioStatistics(nn.Module):
    """Dataset statistics of the patchified latent features (B, T', channels x mel bins)."""

    def __init__(self, features: int):
        super().__init__()
        self.register_buffer("std-of-means", torch.empty(features))
        self.register_buffer("mean-of-means", torch.empty(features))

    def normalize(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens - self.get_buffer("mean-of-means").to(tokens)) / self.get_buffer("std-of-means").to(tokens)

    def un_normalize(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens * self.get_buffer("std-of-means").to(tokens) + self.get_buffer("mean-of-means").to(tokens)


def _patchify(latent: torch.Tensor) -> torch.Tensor:
    return rearrange(latent, "b c t f -> b t (c f)")


def _unpatchify(tokens: torch.Tensor, channels: int) -> torch.Tensor:
    return rearrange(tokens, "b t (c f) -> b c t f", c=channels)


class AudioEncoder(nn.Module):
    def __init__(self, cfg: AudioVAEConfig):
        super().__init__()
        self.cfg = cfg  # AudioVAEConfig checks that the statistics (sized by `ch`) match the token width
        self.per_channel_statistics = AudioStatistics(cfg.ch)
        self.conv_in = CausalConv2d(cfg.in_channels, cfg.ch, 3, cfg.causality_axis)
        self.down = nn.ModuleList()
        widths = (1, *cfg.ch_mult)
        res, block_in = cfg.resolution, cfg.ch
        for level, mult in enumerate(cfg.ch_mult):
            blocks, attns = [], []
            block_in = cfg.ch * widths[level]
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResnetBlock(block_in, cfg.ch * mult, cfg))
                block_in = cfg.ch * mult
                if res in cfg.attn_resolutions:
                    attns.append(_attn(block_in, cfg))
            last = level == len(cfg.ch_mult) - 1
            self.down.append(_Stage(blocks, attns, None if last else Downsample(block_in, cfg), "downsample"))
            res = res if last else res // 2
        self.mid = _Mid(block_in, cfg)
        self.norm_out = _norm(cfg.norm_type, block_in)
        self.non_linearity = nn.SiLU()
        self.conv_out = CausalConv2d(
            block_in, 2 * cfg.z_channels if cfg.double_z else cfg.z_channels, 3, cfg.causality_axis
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, 2, T, 64) -> normalised latent means (B, 8, T', 16)."""
        if mel.ndim != 4 or mel.shape[1] != self.cfg.in_channels or mel.shape[3] != self.cfg.mel_bins:
            raise ValueError(f"mel must be (B, {self.cfg.in_channels}, T, {self.cfg.mel_bins}), got {tuple(mel.shape)}")
        h = self.conv_in(mel)
        for stage in self.down:
            h = stage.run(h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        h = self.conv_out(self.non_linearity(self.norm_out(self.mid(h))))
        means = torch.chunk(h, 2, dim=1)[0]
        return _unpatchify(self.per_channel_statistics.normalize(_patchify(means)), means.shape[1])


class AudioDecoder(nn.Module):
    def __init__(self, cfg: AudioVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.per_channel_statistics = AudioStatistics(cfg.ch)
        block_in = cfg.ch * cfg.ch_mult[-1]
        self.conv_in = CausalConv2d(cfg.z_channels, block_in, 3, cfg.causality_axis)
        self.mid = _Mid(block_in, cfg)
        stages: list[nn.Module] = []
        res = cfg.resolution // 2 ** (len(cfg.ch_mult) - 1)
        for level in reversed(range(len(cfg.ch_mult))):
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, cfg.ch * cfg.ch_mult[level], cfg))
                block_in = cfg.ch * cfg.ch_mult[level]
                if res in cfg.attn_resolutions:
                    attns.append(_attn(block_in, cfg))
            stages.insert(0, _Stage(blocks, attns, Upsample(block_in, cfg) if level else None, "upsample"))
            res = res * 2 if level else res
        self.up = nn.ModuleList(stages)
        self.norm_out = _norm(cfg.norm_type, block_in)
        self.non_linearity = nn.SiLU()
        self.conv_out = CausalConv2d(block_in, cfg.out_ch, 3, cfg.causality_axis)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, 8, T', 16) -> log-mel (B, 2, 4T' - 3, 64) (4T' when not causal)."""
        cfg = self.cfg
        if latent.ndim != 4 or latent.shape[1] != cfg.z_channels:
            raise ValueError(
                f"latent must be (B, {cfg.z_channels}, T', {cfg.latent_mel_bins}), got {tuple(latent.shape)}"
            )
        frames = latent.shape[2] * LATENT_DOWNSAMPLE
        if cfg.causality_axis is not None:
            frames = max(frames - (LATENT_DOWNSAMPLE - 1), 1)
        h = _unpatchify(self.per_channel_statistics.un_normalize(_patchify(latent)), latent.shape[1])
        h = self.mid(self.conv_in(h))
        for stage in reversed(self.up):
            h = stage.run(h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        h = self.conv_out(self.non_linearity(self.norm_out(h)))
        return _fit(h, cfg.out_ch, frames, cfg.mel_bins)


def _fit(x: torch.Tensor, channels: int, frames: int, bins: int) -> torch.Tensor:
    """Crop, or zero-pad at the end, to (B, channels, frames, bins)."""
    x = x[:, :channels, :frames, :bins]
    if x.shape[2] < frames or x.shape[3] < bins:
        x = F.pad(x, (0, bins - x.shape[3], 0, frames - x.shape[2]))
    return x
