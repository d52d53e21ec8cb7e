"""The VAE's blocks: residual blocks (optionally timestep-modulated, with spatial noise injection),
groups of them, per-frame spatial attention, and the space<->depth resamplers with their
channel-averaged / tiled residuals."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ltx.nn.adaln import TimestepEmbedding
from ltx.vae.layers import CausalConv3d, ChannelLayerNorm, add_spatial_noise_, depth_to_space, make_norm, space_to_depth


class ResnetBlock(nn.Module):
    """norm1 [* (1+scale1) + shift1] -> SiLU -> conv1 [+ noise] -> norm2 [* (1+scale2) + shift2] ->
    SiLU -> conv2 [+ noise], added to the input (through norm3 + a 1x1 conv when the width changes).

    norm3 is GroupNorm(1) in ltx-core (LTX-2) and a per-voxel LayerNorm in ltx-video."""

    def __init__(self, cin: int, cout: int, norm: str, padding: str, *, noise: bool = False,
                 timestep: bool = False, family: str = "ltx2"):  # fmt: skip
        super().__init__()
        self.norm1 = make_norm(norm, cin)
        self.non_linearity = nn.SiLU()
        self.conv1 = CausalConv3d(cin, cout, padding_mode=padding)
        self.norm2 = make_norm(norm, cout)
        self.conv2 = CausalConv3d(cout, cout, padding_mode=padding)
        if noise:
            self.per_channel_scale1 = nn.Parameter(torch.zeros(cin, 1, 1))
            self.per_channel_scale2 = nn.Parameter(torch.zeros(cin, 1, 1))
        self.noise = noise
        if cin != cout:
            self.norm3 = nn.GroupNorm(1, cin, eps=1e-6) if family == "ltx2" else ChannelLayerNorm(cin)
            self.conv_shortcut = nn.Conv3d(cin, cout, kernel_size=1)
        else:
            self.norm3 = self.conv_shortcut = nn.Identity()
        if timestep:
            self.scale_shift_table = nn.Parameter(torch.zeros(4, cin))
        self.timestep = timestep

    def forward(self, x, causal: bool = True, t_emb: torch.Tensor | None = None, generator=None) -> torch.Tensor:
        mod1 = mod2 = None
        if self.timestep:
            rows = self.scale_shift_table[None, ..., None, None, None].to(x) + t_emb.reshape(x.shape[0], 4, -1, 1, 1, 1)
            shift1, scale1, shift2, scale2 = rows.unbind(dim=1)
            mod1, mod2 = (scale1, shift1), (scale2, shift2)
        # In-place steps and dels keep x plus two full-size tensors alive at the most.
        h = self.conv1.norm_act_conv(x, self.norm1, causal, mod1)
        if self.noise:
            add_spatial_noise_(h, self.per_channel_scale1, generator)
        h2 = self.conv2.norm_act_conv(h, self.norm2, causal, mod2)
        del h
        if self.noise:
            add_spatial_noise_(h2, self.per_channel_scale2, generator)
        if isinstance(self.conv_shortcut, nn.Identity):
            return h2.add_(x)
        # A new sum, shortcut first: it keeps the shortcut's memory layout (channels-last after
        # ltx-video's LayerNorm), which decides how the next convolution rounds, as in the official.
        return self.conv_shortcut(self.norm3(x)) + h2


class ResGroup(nn.Module):
    """`res_x`: num_layers residual blocks of constant width; with timestep conditioning one
    embedder (4 rows of modulation per channel) feeds them all."""

    def __init__(
        self, channels: int, num_layers: int, norm: str, padding: str, *, noise: bool, timestep: bool, family: str
    ):
        super().__init__()
        if timestep:
            self.time_embedder = TimestepEmbedding(4 * channels)
        self.timestep = timestep
        self.res_blocks = nn.ModuleList(
            ResnetBlock(channels, channels, norm, padding, noise=noise, timestep=timestep, family=family)
            for _ in range(num_layers)
        )

    def forward(self, x, causal: bool = True, t: torch.Tensor | None = None, generator: torch.Generator | None = None):
        t_emb = None
        if self.timestep:
            t_emb = self.time_embedder(t.flatten(), x.dtype).view(x.shape[0], -1, 1, 1, 1)
        for block in self.res_blocks:
            x = block(x, causal, t_emb, generator)
        return x


class AttnBlock(nn.Module):
    """`attn`: x + proj(attention(q, k, v)) over the H*W positions of each frame on its own (frames
    never see each other), one head as wide as the channels. q, k, v come from one 1x1 conv of
    the channel-RMS-normalised input, normalize(x) * sqrt(C) * gamma."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = ChannelRMSNorm(channels)
        self.to_qkv = nn.Conv2d(channels, 3 * channels, kernel_size=1)
        self.proj = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:  # causal: same call as the convs
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        qkv = rearrange(self.to_qkv(self.norm(frames)), "n c h w -> n (h w) c")
        q, k, v = (t.unsqueeze(1) for t in qkv.chunk(3, dim=-1))  # (n, 1 head, h*w, c)
        out = F.scaled_dot_product_attention(q, k, v).squeeze(1)
        out = self.proj(rearrange(out, "n (h w) c -> n c h w", h=x.shape[3]))
        return x + rearrange(out, "(b t) c h w -> b c t h w", b=x.shape[0])


class ChannelRMSNorm(nn.Module):
    """x / ||x|| over channels, times sqrt(C) * gamma: an RMSNorm of (N, C, H, W) maps."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = channels**0.5
        self.gamma = nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * (self.scale * self.gamma)


class SpaceToDepthDown(nn.Module):
    """`compress_*_res`: conv to cout/prod(stride) channels then space-to-depth, plus the
    space-to-depth input averaged over groups of channels. Time-strided: frame 0 is duplicated first."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int, int], padding: str):
        super().__init__()
        self.stride = stride
        self.group_size = cin * math.prod(stride) // cout
        self.conv = CausalConv3d(cin, cout // math.prod(stride), padding_mode=padding)

    def forward(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        if self.stride[0] == 2:
            x = torch.cat([x[:, :, :1], x], dim=2)
        skip = space_to_depth(x, self.stride)
        skip = skip.unflatten(1, (-1, self.group_size)).mean(dim=2)
        return space_to_depth(self.conv(x, causal=causal), self.stride) + skip


class DepthToSpaceUp(nn.Module):
    """Decoder `compress_*`: conv to prod(stride)*cin/reduction channels then depth-to-space; the
    first frame is dropped when time is strided. `residual` adds the depth-to-space input, tiled."""

    def __init__(
        self, cin: int, stride: tuple[int, int, int], padding: str, residual: bool = False, reduction: int = 1
    ):
        super().__init__()
        self.stride, self.residual, self.reduction = stride, residual, reduction
        self.conv = CausalConv3d(cin, math.prod(stride) * cin // reduction, padding_mode=padding)

    def forward(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        frames = self.conv.chunk_frames(x)
        if frames is None:
            return self._upsample(x, self.conv(x, causal=causal), 0, x.shape[2])
        drop = 1 if self.stride[0] == 2 else 0
        out = None
        for start in range(0, x.shape[2], frames):  # large inputs on CUDA: a few frames at a time
            stop = min(x.shape[2], start + frames)
            y = self._upsample(x, self.conv.conv_frames(x, start, stop, causal), start, stop)
            first = max(0, start * self.stride[0] - drop)
            if out is None:
                out = y.new_empty(*y.shape[:2], x.shape[2] * self.stride[0] - drop, *y.shape[3:])
            out[:, :, first : first + y.shape[2]] = y
            del y
        return out

    def _upsample(self, x: torch.Tensor, conv_out: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Depth-to-space of the conv output of input frames [start, stop), plus the residual; the
        very first output frame is dropped when time is strided."""
        y = depth_to_space(conv_out, self.stride)
        del conv_out
        cut = 1 if self.stride[0] == 2 and start == 0 else 0
        y = y[:, :, cut:]
        if self.residual:  # + the depth-to-space input, tiled over the channel groups (by broadcasting)
            skip = depth_to_space(x[:, :, start:stop], self.stride)[:, :, cut:]
            y.unflatten(1, (math.prod(self.stride) // self.reduction, -1)).add_(skip.unsqueeze(1))
        return y
