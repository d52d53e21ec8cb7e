"""The LTX-2.5 diffusion video decoder: latent -> context volume -> pixels denoised in a few Euler steps.

Tensors inside are channels-last, (B, T, H, W, C). Stages 1-4: neighbourhood-attention blocks
(x += attn(rms x); x += swiglu(rms x)), then a linear pixel-shuffle upsample; a time stride of 2 makes
2T frames of which the first is dropped, so the latent's T frames become 8 (T - 1) + 1. Stage 5 works on
the pixels patchified 4 x 4 (48 channels): each of `default_num_inference_steps` steps embeds the noise
level, adds the projected context in every block and modulates both norms with a shared AdaLN plus the
block's own table; Euler steps in float32 take the pixels from noise at t = 1 to t = 0.

Borders, as the official decoder handles them: the last latent frame is repeated `trailing_latent_frames`
times before stage 1 and those frames are cropped from the context before stage 5; latents smaller than
`min_latent` are edge-padded and the padding is cropped from the pixels. Along W, stage 5 attends over
the edge-replicated volume (`w_edges="replicate"`, the official default chunked modes) or shifts the
window inward (`"shift"`, the official combined mode; stages 1-4 always shift).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ltx.config.diffusion_vae import DiffusionDecoderConfig
from ltx.nn.adaln import TimestepEmbedding
from ltx.nn.neighborhood import check_window, neighborhood_attention
from ltx.vae.layers import PerChannelStatistics, patchify, unpatchify

MLP_TOKENS = 16384  # the SwiGLU runs over this many tokens at a time (as the official does)
W_EDGES = ("replicate", "shift")
ROPE_ELEMENTS = 2**26  # RoPE is applied over slabs of frames of about this many elements
SLAB_ELEMENTS = 2**27  # attention runs over slabs of frames of about this many input elements (with their halo)


def rope_inverse_frequencies(dim: int, base: float = 10000.0) -> torch.Tensor:
    exponents = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    return (1.0 / torch.pow(torch.tensor(base, dtype=torch.float64), exponents)).float()


def apply_axis_rope(x: torch.Tensor, split: tuple[int, int, int], t_start: int = 0, w_start: int = 0) -> torch.Tensor:
    """Absolute RoPE on (B, T, H, W, heads, D): the head's channels split (d_t, d_h, d_w), each part
    rotating its interleaved pairs by position * 10000^(-2i/d) of its own axis; positions count from 0
    (T from `t_start`, W from `w_start`). Computed in float32, returned in x's dtype."""
    parts = []
    for axis, chunk in enumerate(x.split(split, dim=-1)):
        n = x.shape[1 + axis]
        pos = torch.arange(n, dtype=torch.float32, device=x.device) + (t_start, 0, w_start)[axis]
        angle = pos[:, None] * rope_inverse_frequencies(chunk.shape[-1]).to(x.device)[None, :]
        shape = [1, 1, 1, 1, 1, angle.shape[-1]]
        shape[1 + axis] = n
        cos, sin = angle.cos().view(shape), angle.sin().view(shape)
        pairs = chunk.unflatten(-1, (-1, 2)).float()
        even, odd = pairs[..., 0], pairs[..., 1]
        parts.append(torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2))
    return torch.cat(parts, dim=-1).to(x.dtype)


class NeighborhoodSelfAttention(nn.Module):
    """q/k/v Linears, per-head RMS norm of q and k, q * head_dim^-1/2, absolute RoPE, 3-D neighbourhood
    attention, output Linear."""

    def __init__(self, dim: int, kernel: tuple[int, int, int], head_dim: int, rope_split: tuple[int, int, int]):
        super().__init__()
        self.kernel, self.head_dim, self.heads, self.rope_split = tuple(kernel), head_dim, dim // head_dim, rope_split
        self.qkv = nn.ModuleDict({name: nn.Linear(dim, dim) for name in ("to_q", "to_k", "to_v")})
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, w_pad: int = 0) -> torch.Tensor:
        """w_pad: attend over x with `w_pad` copies of its first and last W columns added outside (their
        RoPE positions continue outward: -w_pad ...), then keep the original columns.

        A long volume runs a slab of frames at a time, each with the frames its queries' windows reach (a
        window's start is clamp(t - k//2, 0, T - k), the same for the slab as for the whole), so only one
        slab's q, k, v and output exist at once."""
        frames, kt = x.shape[1], self.kernel[0]
        step = max(kt, SLAB_ELEMENTS // max(1, x[:, :1].numel()))
        if step >= frames:
            return self._attend(x, w_pad, 0)
        start = lambda t: min(max(t - kt // 2, 0), frames - kt)  # noqa: E731  (a query frame's window start)
        out = torch.empty_like(x)
        for t0 in range(0, frames, step):
            t1 = min(frames, t0 + step)
            lo, hi = start(t0), start(t1 - 1) + kt
            out[:, t0:t1] = self._attend(x[:, lo:hi], w_pad, lo)[:, t0 - lo : t1 - lo]
        return out

    def _attend(self, x: torch.Tensor, w_pad: int, t_start: int) -> torch.Tensor:
        """Attention over all of x, whose first frame is frame `t_start` of the volume (for RoPE)."""
        if w_pad:
            edge = (*x.shape[:3], w_pad, x.shape[4])
            x = torch.cat([x[:, :, :, :1].expand(edge), x, x[:, :, :, -1:].expand(edge)], dim=3)
        check_window(x.shape[1:4], self.kernel)
        heads = lambda t: t.unflatten(-1, (self.heads, self.head_dim))  # noqa: E731
        q = self.rope(_scaled(self.q_norm(heads(self.qkv["to_q"](x))), self.head_dim**-0.5), -w_pad, t_start)
        k = self.rope(self.k_norm(heads(self.qkv["to_k"](x))), -w_pad, t_start)
        v = heads(self.qkv["to_v"](x)).contiguous()
        del x  # (the padded copy: one volume less while the attention runs)
        out = neighborhood_attention(q, k, v, self.kernel, scale=1.0)
        del q, k, v
        if w_pad:
            out = out[:, :, :, w_pad:-w_pad]
        return self.proj(out.flatten(-2))

    def rope(self, x: torch.Tensor, w_start: int, t_start: int = 0) -> torch.Tensor:
        """apply_axis_rope a few frames at a time (its float32 temporaries stay small); x's first frame is
        frame `t_start` of the volume."""
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        step = max(1, ROPE_ELEMENTS // max(1, x[:, :1].numel()))
        for t in range(0, x.shape[1], step):
            out[:, t : t + step] = apply_axis_rope(x[:, t : t + step], self.rope_split, t_start + t, w_start)
        return out


class SwiGLU(nn.Module):
    """w_down(silu(w_gate x) * w_up x), no biases; run over the tokens in slices."""

    def __init__(self, dim: int):
        super().__init__()
        hidden = (4 * dim + 15) // 16 * 16
        self.w_up = nn.Linear(dim, hidden, bias=False)
        self.w_gate = nn.Linear(dim, hidden, bias=False)
        self.w_down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        out = torch.empty_like(flat)
        for i in range(0, flat.shape[0], MLP_TOKENS):
            xs = flat[i : i + MLP_TOKENS]
            out[i : i + MLP_TOKENS] = self.w_down(F.silu(self.w_gate(xs)) * self.w_up(xs))
        return out.view(x.shape)


class NABlock(nn.Module):
    """A stage 1-4 block: x += attn(rms1 x); x += swiglu(rms2 x)."""

    def __init__(self, dim: int, kernel, head_dim: int, rope_split):
        super().__init__()
        self.norm1 = nn.RMSNorm(dim, eps=1e-6)
        self.attn = NeighborhoodSelfAttention(dim, kernel, head_dim, rope_split)
        self.norm2 = nn.RMSNorm(dim, eps=1e-6)
        self.mlp = SwiGLU(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return _residual(x, self.mlp(self.norm2(x)))


class PixelShuffleUpsample(nn.Module):
    """Linear to prod(stride) * C / reduction channels, then (c, p1, p2, p3) channels -> (t p1, h p2, w p3);
    with a time stride of 2 the first output frame is dropped (`drop_first`: the volume starts at t = 0)."""

    def __init__(self, dim: int, stride: tuple[int, int, int], reduction: int):
        super().__init__()
        self.stride = tuple(stride)
        self.proj = nn.Linear(dim, math.prod(stride) * dim // reduction)

    def forward(self, x: torch.Tensor, drop_first: bool = True) -> torch.Tensor:
        b, t, h, w, _ = x.shape
        p1, p2, p3 = self.stride
        x = self.proj(x).unflatten(-1, (-1, p1, p2, p3)).permute(0, 1, 5, 2, 6, 3, 7, 4)
        x = x.reshape(b, t * p1, h * p2, w * p3, -1)
        return x[:, 1:] if p1 == 2 and drop_first else x


class SharedAdaLN(nn.Module):
    """Embedded noise level -> 7 rows (scale, shift, gate for attention; the same for the MLP; a context
    gate), each (B, 1, 1, 1, C). The gates are not used: the files' static gates are folded at load."""

    def __init__(self, dim: int, t_emb_dim: int):
        super().__init__()
        self.proj = nn.Linear(t_emb_dim, 7 * dim)

    def forward(self, t_emb: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(c[:, None, None, None, :] for c in self.proj(F.silu(t_emb)).chunk(7, dim=-1))


class DiffusionBlock(nn.Module):
    """A stage-5 block: x += context_proj(context); x += attn(rms1 x * (1 + scale) + shift);
    x += swiglu(rms2 x * (1 + scale') + shift'), with (scale, shift) = shared rows + this block's table."""

    def __init__(self, dim: int, context_dim: int, kernel, head_dim: int, rope_split):
        super().__init__()
        self.context_proj = nn.Linear(context_dim, dim)
        self.scale_shift_table = nn.Parameter(torch.empty(7, dim))
        self.norm1 = nn.RMSNorm(dim, eps=1e-6)
        self.attn = NeighborhoodSelfAttention(dim, kernel, head_dim, rope_split)
        self.norm2 = nn.RMSNorm(dim, eps=1e-6)
        self.mlp = SwiGLU(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, shared: tuple[torch.Tensor, ...], w_pad: int = 0):
        rows = [shared[i] + self.scale_shift_table[i].view(1, 1, 1, 1, -1) for i in (0, 1, 3, 4)]
        scale_attn, shift_attn, scale_mlp, shift_mlp = rows
        x = self.context_proj(context) + x if torch.is_grad_enabled() else self.context_proj(context).add_(x)
        x = _residual(x, self.attn(_modulated(self.norm1(x), scale_attn, shift_attn), w_pad))
        return _residual(x, self.mlp(_modulated(self.norm2(x), scale_mlp, shift_mlp)))


# Without autograd (decoding) the block's own temporaries are updated in place: the same values, fewer
# full-size volumes alive at once.
def _residual(x: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
    """x + update, into x when no gradient is recorded (x must be the block's own, not its input)."""
    return x + update if torch.is_grad_enabled() else x.add_(update)


def _modulated(normed: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """normed * (1 + scale) + shift."""
    if torch.is_grad_enabled():
        return normed * (1.0 + scale) + shift
    return normed.mul_(1.0 + scale).add_(shift)


def _scaled(x: torch.Tensor, factor: float) -> torch.Tensor:
    return x * factor if torch.is_grad_enabled() else x.mul_(factor)


def resize_axis(x: torch.Tensor, dim: int, size: int, before: int = 0) -> torch.Tensor:
    """Crop or edge-pad axis `dim` to `size`: `before` copies of the first slice (or that many slices
    cropped from the start), the rest at the end."""
    n = x.shape[dim]
    if n >= size:
        return x.narrow(dim, before, size)
    after = size - n - before
    first = x.narrow(dim, 0, 1).expand(*x.shape[:dim], before, *x.shape[dim + 1 :])
    last = x.narrow(dim, n - 1, 1).expand(*x.shape[:dim], after, *x.shape[dim + 1 :])
    return torch.cat([first, x, last], dim=dim)


class DiffusionVideoDecoder(nn.Module):
    """(B, in_channels, T, H, W) normalised latents -> (B, 3, 8 (T - 1) + 1, 32 H, 32 W) pixels in [-1, 1]."""

    def __init__(self, cfg: DiffusionDecoderConfig, w_edges: str = "replicate"):
        super().__init__()
        if w_edges not in W_EDGES:
            raise ValueError(f"w_edges must be one of {W_EDGES}, got {w_edges!r}")
        self.cfg, self.w_edges = cfg, w_edges
        c, split, hd = cfg.stage_channels, cfg.rope_split, cfg.head_dim
        self.per_channel_statistics = PerChannelStatistics(cfg.in_channels)
        self.conv_in = nn.Linear(cfg.in_channels, c[0])
        self.det_stages = nn.ModuleList(
            nn.ModuleList(NABlock(c[i], cfg.stage_kernels[i], hd, split) for _ in range(cfg.stage_depths[i]))
            for i in range(4)
        )
        self.upsamples = nn.ModuleList(PixelShuffleUpsample(c[i], *cfg.upsamples[i]) for i in range(4))
        pixels = cfg.out_channels * cfg.patch_size**2
        self.t_embedder = TimestepEmbedding(cfg.t_emb_dim)
        self.conv_in_x_t = nn.Linear(pixels, cfg.c5)
        self.shared_adaln = SharedAdaLN(cfg.c5, cfg.t_emb_dim)
        self.diff_blocks = nn.ModuleList(
            DiffusionBlock(cfg.c5, cfg.context_channels, cfg.stage5_kernel, hd, split)
            for _ in range(cfg.stage_depths[4])
        )
        self.norm_out = nn.RMSNorm(cfg.c5, eps=1e-6)
        self.conv_out = nn.Linear(cfg.c5, pixels)

    # -- stages 1-4 -----------------------------------------------------------------------------------
    def features(self, latent: torch.Tensor) -> torch.Tensor:
        """Stages 1-3 on a latent already padded (size floor and trailing frames): stage 4's input."""
        x = self.conv_in(self.per_channel_statistics.un_normalize(latent).permute(0, 2, 3, 4, 1))
        for blocks, upsample in zip(self.det_stages[:3], self.upsamples[:3], strict=True):
            for block in blocks:
                x = block(x)
            x = upsample(x)
        return x

    def stage4(self, features: torch.Tensor, *, first: bool = True, last: bool = True) -> torch.Tensor:
        """Stage 4 on (a tile of) stage 4's input -> the stage-5 context. `first`: the tile starts at frame 0
        (its upsample drops the leading frame); `last`: it ends with the trailing frames, which are cropped
        (down to no fewer than stage 5's window)."""
        x = features
        for block in self.det_stages[3]:
            x = block(x)
        x = self.upsamples[3](x, drop_first=first)
        if not last:
            return x
        content = max(x.shape[1] - 8 * self.cfg.trailing_latent_frames, 1)
        return x[:, : min(x.shape[1], max(content, self.cfg.stage5_kernel[0]))]

    def context(self, latent: torch.Tensor) -> torch.Tensor:
        """The stage-5 context of a whole padded latent."""
        return self.stage4(self.features(latent))

    # -- stage 5 --------------------------------------------------------------------------------------
    def predict(self, context: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The model's output (velocity or clean pixels) for noisy pixels x_t (B, 3, F, H, W) at level t (B,)."""
        p = self.cfg.patch_size
        x = self.conv_in_x_t(patchify(x_t, p).permute(0, 2, 3, 4, 1))
        shared = self.shared_adaln(self.t_embedder(self.cfg.timestep_scale_multiplier * t, x.dtype))
        w_pad = self.cfg.stage5_kernel[2] // 2 if self.w_edges == "replicate" else 0
        for block in self.diff_blocks:
            x = block(x, context, shared, w_pad)
        x = self.conv_out(self.norm_out(x))
        return unpatchify(x.permute(0, 4, 1, 2, 3), p)

    def euler(self, x_t: torch.Tensor, out: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor) -> torch.Tensor:
        """x_t - (t - t_next) * velocity in float32, back in x_t's dtype."""
        x32, t = x_t.float(), t.view(-1, 1, 1, 1, 1)
        velocity = out.float() if self.cfg.model_output_type == "v" else (x32 - out.float()) / t
        return (x32 - (t - t_next.view(-1, 1, 1, 1, 1)).float() * velocity).to(x_t.dtype)

    def levels(self, batch: int, device: torch.device) -> torch.Tensor:
        """(batch, steps) noise levels 1, ..., 1 / steps."""
        steps = self.cfg.default_num_inference_steps
        return torch.linspace(1.0, 1.0 / steps, steps).to(device).unsqueeze(0).expand(batch, -1)

    def denoise(self, context: torch.Tensor, x_t: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """Stage 5: noise x_t (B, 3, F, H, W) over `context` -> pixels, one step per level."""
        steps = levels.shape[1]
        for i in range(steps):
            out = self.predict(context, x_t, levels[:, i])
            if i + 1 < steps:
                x_t = self.euler(x_t, out, levels[:, i], levels[:, i + 1])
            elif self.cfg.model_output_type == "v":
                x_t = self.euler(x_t, out, levels[:, i], torch.zeros_like(levels[:, i]))
            else:
                x_t = out
        return x_t

    def draws_whole_noise(self) -> bool:
        """Whether the starting noise is one draw of the whole video (not when a single x0 step needs none:
        then each stage-5 canvas draws its own)."""
        return not (self.cfg.default_num_inference_steps == 1 and self.cfg.model_output_type == "x0")

    def pad_latent(self, latent: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """The latent edge-padded to `min_latent` (T at the end, H and W on both sides, the odd one after),
        with the padding's (top, left) in latent cells."""
        cfg = self.cfg
        if latent.dim() != 5 or latent.shape[1] != cfg.in_channels:
            raise ValueError(f"expected latents (B, {cfg.in_channels}, T, H, W), got {tuple(latent.shape)}")
        _, _, t, h, w = latent.shape
        min_t, min_h, min_w = cfg.min_latent
        top, left = max(min_h - h, 0) // 2, max(min_w - w, 0) // 2
        latent = resize_axis(latent, 2, max(t, min_t))
        return resize_axis(resize_axis(latent, 3, max(h, min_h), top), 4, max(w, min_w), left), top, left

    def forward(self, latent: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pixels in [-1, 1]. The starting noise is one Gaussian draw of the whole (padded) video in the
        latent's dtype from `generator` (on its device), as the official decoder draws it."""
        cfg = self.cfg
        b, _, t, h, w = latent.shape
        frames, height, width = 8 * (t - 1) + 1, 32 * h, 32 * w
        latent, top, left = self.pad_latent(latent)
        work = (b, cfg.out_channels, 8 * (latent.shape[2] - 1) + 1, 32 * latent.shape[3], 32 * latent.shape[4])
        context = self.context(resize_axis(latent, 2, latent.shape[2] + cfg.trailing_latent_frames))
        stage5 = (*work[:2], max(work[2], cfg.stage5_kernel[0]), *work[3:])
        device = generator.device if generator is not None else latent.device
        draw = work if self.draws_whole_noise() else stage5
        x_t = torch.randn(draw, dtype=latent.dtype, generator=generator, device=device).to(latent.device)
        x_t = self.denoise(context, resize_axis(x_t, 2, stage5[2]), self.levels(b, latent.device))
        return x_t[:, :, :frames, 32 * top : 32 * top + height, 32 * left : 32 * left + width].to(latent.dtype)
