"""The causal video VAE: 32x32x8 compression to 128 latent channels for the shipped files.

Frame and size rules (the only place they are stated), with t = cfg.time_scale (8) and s =
cfg.space_scale (32), both derived from the block list (e.g. 4 and 16 for a 16x16x4 VAE):
  pixels (B, 3, F, H, W) in [-1, 1], F = 1 + t*k, H and W multiples of s
  <-> latents (B, 128, 1 + (F-1)/t, H/s, W/s); decoding F' latent frames gives t(F'-1) + 1 frames.
"""

from __future__ import annotations

import torch
from torch import nn

from ltx.config import ConfigError, VideoVAEConfig
from ltx.config.vae import CONV_VAE
from ltx.nn.adaln import TimestepEmbedding
from ltx.vae.blocks import AttnBlock, DepthToSpaceUp, ResGroup, ResnetBlock, SpaceToDepthDown
from ltx.vae.layers import CausalConv3d, PerChannelStatistics, make_norm, patchify, unpatchify

TIME_SCALE, SPACE_SCALE = 8, 32
_STRIDES = {"time": (2, 1, 1), "space": (1, 2, 2), "all": (2, 2, 2)}


def check_video_shape(
    shape: tuple[int, ...], crop: bool = False, time_scale: int = TIME_SCALE, space_scale: int = SPACE_SCALE
) -> int:
    """Frames to keep for a (B, C, F, H, W) clip; raises unless the rules above hold (or `crop`)."""
    if len(shape) != 5:
        raise ValueError(f"video must be (B, C, F, H, W), got shape {tuple(shape)}")
    frames, height, width = shape[2:]
    if height % space_scale or width % space_scale:
        raise ValueError(f"height and width must be multiples of {space_scale}, got {height}x{width}")
    extra = (frames - 1) % time_scale
    if extra and not crop:
        raise ValueError(
            f"{frames} frames: the VAE needs 1 + {time_scale}k frames (e.g. {frames - extra} or "
            f"{frames - extra + time_scale}); pass crop=True to drop the last frames"
        )
    return frames - extra


def latent_frames(frames: int, time_scale: int = TIME_SCALE) -> int:
    return (frames - 1) // time_scale + 1


def pixel_frames(latent_frames: int, time_scale: int = TIME_SCALE) -> int:
    return time_scale * (latent_frames - 1) + 1


def to_uint8(video: torch.Tensor) -> torch.Tensor:
    """Decoder output in [-1, 1] (B, 3, F, H, W) -> uint8 frames (B, F, H, W, 3)."""
    return (((video + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0).to(torch.uint8).permute(0, 2, 3, 4, 1)


def to_frames(video: torch.Tensor) -> torch.Tensor:
    """Decoder output in [-1, 1] (B, 3, F, H, W) -> float frames (B, F, H, W, 3) in [0, 1]."""
    return video.permute(0, 2, 3, 4, 1).add(1.0).mul_(0.5).clamp_(0.0, 1.0)


def from_uint8(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (B, F, H, W, 3) -> float (B, 3, F, H, W) in [-1, 1]."""
    return frames.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def _encoder_block(name: str, params: dict, cin: int, cfg: VideoVAEConfig) -> tuple[nn.Module, int]:
    pad, norm = cfg.encoder_padding, cfg.norm_layer
    if name == "attn":
        return AttnBlock(cin), cin
    if name == "res_x":
        return ResGroup(cin, params["num_layers"], norm, pad, noise=False, timestep=False, family=cfg.family), cin
    if name == "res_x_y":
        cout = cin * params.get("multiplier", 2)
        return ResnetBlock(cin, cout, norm, pad, family=cfg.family), cout
    kind = name.removeprefix("compress_").removesuffix("_res").removesuffix("_x_y")
    if name.endswith("_res"):
        cout = cin * params.get("multiplier", 2)
        return SpaceToDepthDown(cin, cout, _STRIDES[kind], pad), cout
    cout = cin * params.get("multiplier", 2) if name.endswith("_x_y") else cin
    return CausalConv3d(cin, cout, stride=_STRIDES[kind], padding_mode=pad), cout


class VideoEncoder(nn.Module):
    def __init__(self, cfg: VideoVAEConfig):
        super().__init__()
        self.cfg = cfg
        width = cfg.encoder_base_channels
        self.conv_in = CausalConv3d(cfg.in_channels * cfg.patch_size**2, width, padding_mode=cfg.encoder_padding)
        self.down_blocks = nn.ModuleList()
        for name, params in cfg.encoder_blocks:
            block, width = _encoder_block(name, params, width, cfg)
            self.down_blocks.append(block)
        self.conv_norm_out = make_norm(cfg.norm_layer, width)
        self.conv_act = nn.SiLU()
        n = cfg.latent_channels
        out = {"per_channel": 2 * n, "uniform": n + 1, "constant": n + 1, "none": n}[cfg.latent_log_var]
        self.conv_out = CausalConv3d(width, out, padding_mode=cfg.encoder_padding)
        if cfg.use_quant_conv:
            self.quant_conv = nn.Conv3d(2 * n, 2 * n, kernel_size=1)
        self.per_channel_statistics = PerChannelStatistics(n)

    def moments(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Posterior mean and log-variance (None for latent_log_var 'none'), un-normalised."""
        x = self.conv_in(patchify(video, self.cfg.patch_size))
        for block in self.down_blocks:
            x = block(x)
        x = self.conv_out.norm_act_conv(x, self.conv_norm_out, causal=True)
        n, kind = self.cfg.latent_channels, self.cfg.latent_log_var
        if self.cfg.use_quant_conv:
            x = self.quant_conv(x)
        if kind == "none":
            return x, None
        if kind == "per_channel":
            return x[:, :n], x[:, n:]
        log_var = x[:, n:] if kind == "uniform" else torch.full_like(x[:, n:], -30.0)
        return x[:, :n], log_var.expand_as(x[:, :n])

    def forward(self, video: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None,
                crop: bool = False) -> torch.Tensor:  # fmt: skip
        """Pixels (B, 3, 1+8k, H, W) in [-1, 1] -> normalised latents (B, 128, 1+k, H/32, W/32).

        sample=False returns the posterior mean (ltx-core); sample=True draws mean + std * noise
        from `generator` with log-variance clamped to [-30, 20] (ltx-video's pipeline)."""
        video = video[:, :, : check_video_shape(video.shape, crop, self.cfg.time_scale, self.cfg.space_scale)]
        mean, log_var = self.moments(video)
        if sample and log_var is not None:
            std = torch.exp(0.5 * torch.clamp(log_var, -30.0, 20.0))
            mean = mean + std * torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return self.per_channel_statistics.normalize(mean)


def _decoder_block(name: str, params: dict, cin: int, cfg: VideoVAEConfig) -> tuple[nn.Module, int]:
    pad, norm, noise = cfg.decoder_padding, cfg.norm_layer, params.get("inject_noise", False)
    if name == "attn":
        return AttnBlock(cin), cin
    if name == "res_x":
        block = ResGroup(
            cin, params["num_layers"], norm, pad, noise=noise, timestep=cfg.timestep_conditioning, family=cfg.family
        )
        return block, cin
    if name == "res_x_y":
        cout = cin // params.get("multiplier", 2)
        return ResnetBlock(cin, cout, norm, pad, noise=noise, family=cfg.family), cout
    kind = name.removeprefix("compress_")
    reduction = params.get("multiplier", 1)
    residual = params.get("residual", False) if kind == "all" else False
    return DepthToSpaceUp(cin, _STRIDES[kind], pad, residual, reduction), cin // reduction


class VideoDecoder(nn.Module):
    """Latents -> pixels. With timestep conditioning (the denoising decoder), the latent is first
    mixed with noise, x = noise_scale * noise + (1 - noise_scale) * x, and every res_x group and the
    final norm are modulated by the timestep (times the learned timestep_scale_multiplier)."""

    def __init__(self, cfg: VideoVAEConfig):
        super().__init__()
        if cfg.class_name != CONV_VAE:
            raise ConfigError(
                f"this VAE's decoder is a diffusion model ({cfg.class_name}), not convolutional: see ltx.vae.diffusion"
            )
        self.cfg = cfg
        width = cfg.decoder_width
        self.conv_in = CausalConv3d(cfg.latent_channels, width, padding_mode=cfg.decoder_padding)
        self.up_blocks = nn.ModuleList()
        for name, params in reversed(cfg.decoder_blocks):
            block, width = _decoder_block(name, params, width, cfg)
            self.up_blocks.append(block)
        self.conv_norm_out = make_norm(cfg.norm_layer, width)
        self.conv_act = nn.SiLU()
        self.conv_out = CausalConv3d(width, cfg.out_channels * cfg.patch_size**2, padding_mode=cfg.decoder_padding)
        if cfg.use_quant_conv:
            self.post_quant_conv = nn.Conv3d(cfg.latent_channels, cfg.latent_channels, kernel_size=1)
        if cfg.timestep_conditioning:
            self.timestep_scale_multiplier = nn.Parameter(torch.tensor(1000.0))
            self.last_time_embedder = TimestepEmbedding(2 * width)
            self.last_scale_shift_table = nn.Parameter(torch.zeros(2, width))
        self.per_channel_statistics = PerChannelStatistics(cfg.latent_channels)

    def forward(
        self,
        latent: torch.Tensor,
        *,
        timestep: float | torch.Tensor = 0.05,
        noise_scale: float | torch.Tensor = 0.025,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalised latents (B, 128, F', H', W') -> pixels (B, 3, 8(F'-1)+1, 32H', 32W') (for a
        32x32x8 VAE).

        timestep / noise_scale (a float or one per sample) matter only for a timestep-conditioned
        decoder; 0.05 / 0.025 are the values the shipped pipelines use. All noise (the decode noise,
        then each block's spatial noise, in the official order) comes from `generator`; `noise` (the latent's
        shape) replaces the decode noise's draw."""
        if latent.ndim != 5 or latent.shape[1] != self.cfg.latent_channels:
            raise ValueError(f"latent must be (B, {self.cfg.latent_channels}, F', H', W'), got {tuple(latent.shape)}")
        if not bool(torch.isfinite(latent).all()):
            raise ValueError("the latent to decode holds NaN or infinite values: it would decode to a black clip")
        if self.cfg.decoder_padding == "reflect" and min(latent.shape[3:]) < 2:
            raise ValueError(
                f"this decoder pads by reflection: it needs latents of at least 2 x 2 ({2 * self.cfg.space_scale} px), "
                f"got {tuple(latent.shape)}"
            )
        b, causal = latent.shape[0], self.cfg.causal_decoder
        t = None
        if self.cfg.timestep_conditioning:
            # ltx-core builds these in the latent's dtype; ltx-video's pipeline passes float32 tensors.
            exact = torch.float32 if self.cfg.family == "ltxv" else None
            if noise is None:
                noise = torch.randn(latent.shape, generator=generator, dtype=latent.dtype, device=latent.device)
            elif noise.shape != latent.shape:
                raise ValueError(f"noise must have the latent's shape {tuple(latent.shape)}, got {tuple(noise.shape)}")
            s = noise_scale
            if exact is not None or torch.is_tensor(noise_scale):
                s = _per_sample(noise_scale, latent, exact).view(b, 1, 1, 1, 1)
            latent = (noise * s + (1.0 - s) * latent).to(latent.dtype)
            t = _per_sample(timestep, latent, exact) * self.timestep_scale_multiplier.to(latent)
        x = self.per_channel_statistics.un_normalize(latent)
        if self.cfg.use_quant_conv:
            x = self.post_quant_conv(x)
        x = self.conv_in(x, causal=causal)
        for block in self.up_blocks:
            if isinstance(block, ResGroup):
                x = block(x, causal, t, generator)
            elif isinstance(block, ResnetBlock):
                x = block(x, causal, None, generator)
            else:
                x = block(x, causal=causal)
        modulation = None
        if self.cfg.timestep_conditioning:
            emb = self.last_time_embedder(t.flatten(), x.dtype).view(b, 2, -1, 1, 1, 1)
            shift, scale = (self.last_scale_shift_table[None, ..., None, None, None].to(x) + emb).unbind(dim=1)
            modulation = (scale, shift)
        x = self.conv_out.norm_act_conv(x, self.conv_norm_out, causal, modulation)
        return unpatchify(x, self.cfg.patch_size)


def _per_sample(value: float | torch.Tensor, like: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """A float or one value per sample -> (B,): a float in `dtype` (default: the latent's), a tensor
    in float32."""
    b = like.shape[0]
    if not torch.is_tensor(value):
        return torch.full((b,), float(value), dtype=dtype or like.dtype, device=like.device)
    if value.numel() not in (1, b):
        raise ValueError(f"expected a scalar or one value per sample ({b}), got shape {tuple(value.shape)}")
    return value.to(like.device, torch.float32).reshape(-1).expand(b)
