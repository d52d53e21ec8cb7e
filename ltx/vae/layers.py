"""Small pieces of the video VAE: causal 3-D convolution, norms, space<->depth, latent statistics."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


class CausalConv3d(nn.Module):
    """A k x k x k Conv3d that pads time by repeating edge frames and space by the conv's own mode.

    causal=True: k-1 copies of the first frame in front (output frame t sees frames <= t).
    causal=False: (k-1)/2 copies of the first frame in front and of the last frame behind.
    The inner module is `.conv`, as in the official checkpoints (`...conv_in.conv.weight`).

    `chunk_bytes` (off by default; see chunk_convolutions): inputs bigger than that are convolved a
    few frames at a time, each chunk with the padding frames it needs. The same sums per output
    element, but the padded copy and the convolution's workspace stay small.
    """

    chunk_bytes: int | None = None

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride=1, padding_mode: str = "zeros"
    ):
        super().__init__()
        self.time_kernel = kernel_size
        pad = kernel_size // 2
        self.conv = nn.Conv3d(
            in_channels, out_channels, kernel_size, stride=stride, padding=(0, pad, pad), padding_mode=padding_mode
        )

    def padding(self, causal: bool) -> tuple[int, int]:
        """Frames repeated in front of and behind the input."""
        k = self.time_kernel
        return (k - 1, 0) if causal else ((k - 1) // 2, (k - 1) // 2)

    def chunk_frames(self, x: torch.Tensor) -> int | None:
        """Frames per chunk when chunking is on and x is big enough (time stride 1), else None."""
        if self.chunk_bytes is None or self.conv.stride[0] != 1:
            return None
        per_frame = max(self.conv.in_channels, self.conv.out_channels) * x.shape[3] * x.shape[4] * x.element_size()
        frames = max(1, self.chunk_bytes // (per_frame * x.shape[0]))
        return frames if frames < x.shape[2] else None

    def conv_frames(self, x: torch.Tensor, start: int, stop: int, causal: bool, prepare=None) -> torch.Tensor:
        """Output frames [start, stop) (time stride 1): the input frames they need, edge frames
        repeated where they fall outside, through `prepare` (elementwise), then the conv."""
        front, back = self.padding(causal)
        index = torch.arange(start - front, stop + back, device=x.device).clamp_(0, x.shape[2] - 1)
        frames = x.index_select(2, index)
        return self.conv(frames if prepare is None else prepare(frames))

    def _chunked(self, x: torch.Tensor, frames: int, causal: bool, prepare=None) -> torch.Tensor:
        out = None
        for start in range(0, x.shape[2], frames):
            stop = min(x.shape[2], start + frames)
            y = self.conv_frames(x, start, stop, causal, prepare)
            if out is None:
                out = y.new_empty(*y.shape[:2], x.shape[2], *y.shape[3:])
            out[:, :, start:stop] = y
            del y
        return out

    def forward(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        frames = self.chunk_frames(x)
        if frames is not None:
            return self._chunked(x, frames, causal)
        front, back = self.padding(causal)
        x = torch.cat([x[:, :, :1].repeat(1, 1, front, 1, 1), x, x[:, :, -1:].repeat(1, 1, back, 1, 1)], dim=2)
        return self.conv(x)

    def norm_act_conv(self, x: torch.Tensor, norm: nn.Module, causal: bool, modulation=None) -> torch.Tensor:
        """conv(SiLU(norm(x) * (1 + scale) + shift)): the same numbers as running those modules one
        after the other, without their full-size intermediates. Per-voxel norms on CUDA: chunked in
        time when chunking is on. Otherwise the activation is written into the padded conv input in
        place. (On the CPU,
        SiLU runs on a contiguous tensor: the vectorised CPU kernel, which the official code gets, is
        only taken for contiguous tensors and rounds differently from the strided one.)"""
        frames = self.chunk_frames(x)
        if frames is not None and isinstance(norm, (PixelNorm, ChannelLayerNorm)):
            return self._chunked(x, frames, causal, lambda xs: _activate(norm(xs), modulation))
        front, back = self.padding(causal)
        b, c, t, hh, ww = x.shape
        padded = body = None
        # On CUDA the padded input keeps a channels-last input's layout (what cuDNN convolves natively).
        channels_last = x.is_cuda and x.is_contiguous(memory_format=torch.channels_last_3d)
        layout = torch.channels_last_3d if channels_last else None
        if isinstance(norm, PixelNorm):
            rms = torch.sqrt(torch.mean(x**2, dim=1, keepdim=True) + norm.eps)
            if x.is_cuda:
                padded = _empty(x, (b, c, front + t + back, hh, ww), layout)
                h = body = torch.div(x, rms, out=padded[:, :, front : front + t])
            else:
                h = x / rms
            del rms
        else:
            h = norm(x)
        h = _activate(h, modulation)
        if padded is None:
            padded = _empty(h, (b, c, front + t + back, hh, ww), layout)
            body = padded[:, :, front : front + t]
            body.copy_(h)
        del h
        if front:
            padded[:, :, :front] = body[:, :, :1]
        if back:
            padded[:, :, front + t :] = body[:, :, -1:]
        del body
        return self.conv(padded)


def chunk_convolutions(module: nn.Module, mib: float | None) -> nn.Module:
    """Convolve tensors larger than `mib` MiB a few frames at a time in every causal conv of `module`
    (None: never). The decoder's peak memory drops about 1.8x at 256 MiB on a 1024x1536x121 decode,
    for about 15% more time (bench/results/vae_decode-*.json)."""
    for m in module.modules():
        if isinstance(m, CausalConv3d):
            m.chunk_bytes = None if mib is None else int(mib * 2**20)
    return module


def _empty(like: torch.Tensor, shape: tuple[int, ...], layout) -> torch.Tensor:
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=layout or torch.contiguous_format)


def _activate(h: torch.Tensor, modulation) -> torch.Tensor:
    """SiLU(h * (1 + scale) + shift), in place on h."""
    if modulation is not None:
        scale, shift = modulation
        h.mul_(1 + scale).add_(shift)
    return nn.functional.silu(h, inplace=True)


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x^2 + eps), per voxel; no parameters."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / torch.sqrt(torch.mean(x**2, dim=1, keepdim=True) + self.eps)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at each voxel (ltx-video's norm3 and 'layer_norm'); key `.norm.*`."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(self.norm(rearrange(x, "b c d h w -> b d h w c")), "b d h w c -> b c d h w")


def make_norm(kind: str, channels: int) -> nn.Module:
    if kind == "pixel_norm":
        return PixelNorm()
    if kind == "group_norm":
        return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6)
    return ChannelLayerNorm(channels)


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, F, H, W) -> (B, C*p*p, F, H/p, W/p); channel order (c, column offset, row offset)."""
    return x if p == 1 else rearrange(x, "b c f (h q) (w r) -> b (c r q) f h w", q=p, r=p)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    return x if p == 1 else rearrange(x, "b (c r q) f h w -> b c f (h q) (w r)", q=p, r=p)


def space_to_depth(x: torch.Tensor, stride: tuple[int, int, int]) -> torch.Tensor:
    return rearrange(x, "b c (d p1) (h p2) (w p3) -> b (c p1 p2 p3) d h w", p1=stride[0], p2=stride[1], p3=stride[2])


def depth_to_space(x: torch.Tensor, stride: tuple[int, int, int]) -> torch.Tensor:
    return rearrange(x, "b (c p1 p2 p3) d h w -> b c (d p1) (h p2) (w p3)", p1=stride[0], p2=stride[1], p3=stride[2])


class PerChannelStatistics(nn.Module):
    """The dataset statistics of the latent channels: normalised = (x - mean) / std."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("std-of-means", torch.empty(channels))
        self.register_buffer("mean-of-means", torch.empty(channels))

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        std, mean = self.get_buffer("std-of-means"), self.get_buffer("mean-of-means")
        return std.view(1, -1, 1, 1, 1).to(x), mean.view(1, -1, 1, 1, 1).to(x)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        std, mean = self._stats(x)
        return (x - mean) / std

    def un_normalize(self, x: torch.Tensor) -> torch.Tensor:
        std, mean = self._stats(x)
        return x * std + mean


def add_spatial_noise_(x: torch.Tensor, scale: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """x += one (H, W) Gaussian map, scaled per channel, shared by every sample and frame."""
    noise = torch.randn(x.shape[-2:], device=x.device, dtype=x.dtype, generator=generator)[None]
    return x.add_((noise * scale.to(x))[None, :, None, ...])


__all__ = [
    "CausalConv3d",
    "chunk_convolutions",
    "ChannelLayerNorm",
    "PerChannelStatistics",
    "PixelNorm",
    "depth_to_space",
    "make_norm",
    "patchify",
    "space_to_depth",
    "add_spatial_noise_",
    "unpatchify",
]
