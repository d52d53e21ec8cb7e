"""LTX-Video 0.9.x single-pass generation: text-to-video and first-frame image-to-video.

The sampler, as ltx-video 0.1.2's LTXVideoPipeline computes it for one pass:
1. noise (B, T, C) drawn from `generator` in token order; the clip's timesteps shifted for its token count;
2. with an image: its latent (the encoder's posterior *sampled*, noise from `vae_generator`) blended into the
   first latent frame by `image_strength` (torch.lerp), and those tokens marked with the strength;
3. each step: hard-conditioned tokens (strength 1) re-noised from the clean latent by
   image_noise_scale * noise * t^2 (noise from `generator`); one transformer call over up to three passes
   [negative text, text, text with STG-skipped blocks]; per-token timesteps min(t, 1 - strength);
   v = uncond + cfg * (text - uncond) + stg * (text - perturbed), then rescaled by
   rescaling * std(text) / std(v) + (1 - rescaling) when STG is on;
   the Euler step to the schedule's next timestep (per token), applied only to tokens with t > 1 - strength;
4. decode: the latent mixed with decode noise (decode_noise_scale) and decoded at decode_timestep (noise from
   `vae_generator`), frames mapped from [-1, 1] to [0, 1].

Positions: each token's latent (frame, row, column) times the VAE's (time, space, space) scale; with the
transformer's causal_temporal_positioning the frame becomes max(8f + 1 - 8, 0); time is then multiplied by 1/fps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ltx.dit.latents import patchify_video, unpatchify_video
from ltx.dit.ltxv import STG, STG_STRATEGIES, LTXVTransformer
from ltx.sampling.schedule import ltxv_timesteps
from ltx.vae.video import VideoDecoder, VideoEncoder

T_EPS = 1e-6  # the official's slack when comparing timesteps
HARD = 1.0 - 1e-6  # a token whose strength exceeds this is hard-conditioned (re-noised each step)


@dataclass(frozen=True)
class LTXVRequest:
    """One clip. Defaults are LTXVideoPipeline.__call__'s, except image_noise_scale (inference.py's 0.15)."""

    height: int
    width: int
    frames: int
    fps: float = 25.0
    steps: int = 20
    guidance_scale: float = 4.5  # CFG on when > 1
    stg_scale: float = 1.0  # STG on when > 0
    stg_blocks: tuple[int, ...] = ()  # the blocks skipped in the perturbed pass (none: it equals the text pass)
    stg_strategy: str = "attention_values"
    rescaling: float = 0.7  # applied when STG is on and rescaling != 1
    cfg_star: bool = False  # scale the unconditional prediction by <text, uncond> / |uncond|^2
    terminal: float | None = 0.1  # the schedule's last timestep (the 0.9.x files' target_shift_terminal)
    image_strength: float = 1.0
    image_noise_scale: float = 0.15
    decode_timestep: float = 0.0
    decode_noise_scale: float | None = None  # None: decode_timestep

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0 or self.height % 32 or self.width % 32:
            raise ValueError(f"height and width must be positive multiples of 32, got {self.height}x{self.width}")
        if self.frames < 1 or (self.frames - 1) % 8:
            raise ValueError(f"frames must be 8k + 1 (1, 9, 17, ...), got {self.frames}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.stg_strategy not in STG_STRATEGIES:
            raise ValueError(f"stg_strategy must be one of {STG_STRATEGIES}, got {self.stg_strategy!r}")
        for name in ("image_strength", "decode_timestep"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.decode_noise_scale is not None and not 0.0 <= self.decode_noise_scale <= 1.0:
            raise ValueError(f"decode_noise_scale must be in [0, 1], got {self.decode_noise_scale}")
        if self.image_noise_scale < 0 or self.stg_scale < 0:
            raise ValueError(f"image_noise_scale and stg_scale must be >= 0, got {self.image_noise_scale}, "
                             f"{self.stg_scale}")  # fmt: skip


@dataclass
class LTXVResult:
    latent: torch.Tensor  # (B, C, F', H', W') the final normalised latents
    video: torch.Tensor | None  # (B, 3, F, H, W) in [0, 1]; None without a decoder


def _check(transformer: LTXVTransformer, context, context_mask, negative, negative_mask, image, encoder, decoder, req):
    cfg = transformer.cfg
    if context.ndim != 3 or context.shape[-1] != cfg.caption_channels:
        raise ValueError(f"context must be (B, S, {cfg.caption_channels}), got {tuple(context.shape)}")
    b, s = context.shape[:2]
    if context_mask is None or tuple(context_mask.shape) != (b, s):
        raise ValueError(f"context_mask must be (B, S) = {(b, s)}, got {_shape(context_mask)}")
    if negative is not None and negative.shape != context.shape:
        raise ValueError(f"negative_context must match context {tuple(context.shape)}, got {tuple(negative.shape)}")
    if negative_mask is not None and negative_mask.shape != context_mask.shape:
        raise ValueError(f"negative_mask must be (B, S) = {(b, s)}, got {tuple(negative_mask.shape)}")
    if cfg.out_channels != cfg.in_channels:
        raise ValueError(f"the transformer predicts {cfg.out_channels} channels for {cfg.in_channels}: a learned-sigma "
                         "head is not supported (the released files predict the velocity alone)")  # fmt: skip
    if any(not 0 <= i < cfg.num_layers for i in req.stg_blocks):
        raise ValueError(f"stg_blocks {req.stg_blocks} outside the transformer's {cfg.num_layers} blocks")
    for name, vae in (("decoder", decoder), ("encoder", encoder)):
        if vae is not None and vae.cfg.latent_channels != cfg.in_channels:
            raise ValueError(f"the VAE {name} has {vae.cfg.latent_channels} latent channels, the transformer "
                             f"{cfg.in_channels}")  # fmt: skip
    if image is not None:
        if encoder is None:
            raise ValueError("an image needs the VAE encoder (encoder=load_video_encoder(...))")
        want = (3, 1, req.height, req.width)
        if image.ndim != 5 or image.shape[0] not in (1, b) or tuple(image.shape[1:]) != want:
            raise ValueError(f"image must be (1 or B, 3, 1, H, W) = (.., {want}) pixels in [-1, 1] at the clip's "
                             f"size, got {tuple(image.shape)}")  # fmt: skip
    return b


def _shape(x) -> object:
    return None if x is None else tuple(x.shape)


def _positions(frames: int, height: int, width: int, scale: tuple[int, int, int], causal: bool, fps: float):
    """(3, T) float32 token positions: pixel (frame, row, column), the frame then in seconds."""
    grid = torch.meshgrid(torch.arange(frames), torch.arange(height), torch.arange(width), indexing="ij")
    pixels = torch.stack(grid).flatten(1) * torch.tensor(scale)[:, None]
    if causal:
        pixels[0] = (pixels[0] + 1 - scale[0]).clamp(min=0)
    pixels = pixels.to(torch.float32)
    pixels[0] = pixels[0] * (1.0 / fps)
    return pixels


def _guide(v: torch.Tensor, n: int, b: int, req: LTXVRequest, cfg_on: bool, stg_on: bool) -> torch.Tensor:
    """The guided velocity from the passes [uncond?, text, perturbed?] stacked along the batch."""
    parts = v.chunk(n)
    pred = v
    if stg_on:
        text, perturbed = parts[-2:]
    if cfg_on:
        uncond, text = parts[:2]
        if req.cfg_star:
            pos, neg = text.view(b, -1), uncond.view(b, -1)
            alpha = torch.sum(pos * neg, dim=1, keepdim=True) / (torch.sum(neg**2, dim=1, keepdim=True) + 1e-8)
            uncond = alpha.view(b, 1, 1) * uncond  # (ltx-video broadcasts (B, 1) here: right for B = 1 only)
        pred = uncond + req.guidance_scale * (text - uncond)
    elif stg_on:
        pred = text
    if stg_on:
        pred = pred + req.stg_scale * (text - perturbed)
        if req.rescaling != 1.0 and req.stg_scale > 0.0:
            ratio = text.view(b, -1).std(dim=1, keepdim=True) / pred.view(b, -1).std(dim=1, keepdim=True)
            pred = pred * (req.rescaling * ratio + (1 - req.rescaling)).view(b, 1, 1)
    return pred


def _euler(latents, pred, tau, schedule, t, strength):
    """latents - (tau - next lower schedule timestep) * pred, per token; tokens still above their conditioning
    level (t <= 1 - strength) stay."""
    padded = torch.cat([schedule, torch.zeros(1, device=schedule.device)])[:, None, None]
    below = padded < tau[None] - T_EPS
    lower = (below * padded).max(dim=0).values
    stepped = latents - (tau - lower)[..., None] * pred
    if strength is None:
        return stepped
    return torch.where((t - T_EPS < (1.0 - strength))[..., None], stepped, latents)


@torch.no_grad()
def ltxv_generate(
    transformer: LTXVTransformer,
    decoder: VideoDecoder | None,
    context: torch.Tensor,
    context_mask: torch.Tensor,
    negative_context: torch.Tensor | None,
    negative_mask: torch.Tensor | None,
    req: LTXVRequest,
    *,
    generator: torch.Generator,
    vae_generator: torch.Generator | None = None,
    image: torch.Tensor | None = None,
    encoder: VideoEncoder | None = None,
) -> LTXVResult:
    """Generate `req` from T5 features `context` (B, S, caption_channels) with a 0/1 `context_mask` (B, S) and
    the negative prompt's (None: zeros, as the official). `image`: an optional first frame (1 or B, 3, 1, H, W)
    in [-1, 1]. `generator` draws the initial and re-noising noise; `vae_generator` (None: torch's global
    generator, which is what ltx-video draws from) the encoder's posterior sample and the decoder's noise."""
    b = _check(transformer, context, context_mask, negative_context, negative_mask, image, encoder, decoder, req)
    vae = decoder.cfg if decoder is not None else encoder.cfg if encoder is not None else None
    ts, ss = (vae.time_scale, vae.space_scale) if vae is not None else (8, 32)  # (8, 32): every released VAE
    if req.height % ss or req.width % ss:
        raise ValueError(f"height and width must be multiples of the VAE's {ss}, got {req.height}x{req.width}")
    cfg, device = transformer.cfg, transformer.patchify_proj.weight.device
    dtype = transformer.patchify_proj.weight.dtype
    f, h, w = (req.frames - 1) // ts + 1, req.height // ss, req.width // ss
    tokens, c = f * h * w, cfg.in_channels
    schedule = ltxv_timesteps(req.steps, tokens, terminal=req.terminal).to(device)
    negative_context = torch.zeros_like(context) if negative_context is None else negative_context
    negative_mask = torch.zeros_like(context_mask) if negative_mask is None else negative_mask

    latents = torch.randn((b, tokens, c), generator=generator, device=device, dtype=torch.float32)
    strength = None
    if image is not None:
        first = encoder(image.to(device, next(encoder.parameters()).dtype), sample=True, generator=vae_generator)
        grid = unpatchify_video(latents, f, h, w)
        grid[:, :, :1] = torch.lerp(grid[:, :, :1], first.to(grid.dtype), req.image_strength)
        latents = patchify_video(grid)
        strength = torch.zeros(b, f, h * w, device=device)
        strength[:, 0] = req.image_strength
        strength = strength.flatten(1)
    clean = latents.clone()
    positions = _positions(f, h, w, (ts, ss, ss), cfg.causal_temporal_positioning, req.fps).to(device)

    for t in schedule:
        cfg_on, stg_on = req.guidance_scale > 1.0, req.stg_scale > 0
        texts = [(negative_context, negative_mask)] * cfg_on + [(context, context_mask)] * (1 + stg_on)
        n = len(texts)
        if strength is not None and req.image_noise_scale > 0.0:
            noise = torch.randn((b, tokens, c), generator=generator, device=device, dtype=latents.dtype)
            renoised = clean + req.image_noise_scale * noise * (t**2)
            latents = torch.where((strength > HARD)[..., None], renoised, latents)
        tau = t[None].expand(n * b).unsqueeze(-1)
        if strength is not None:
            tau = torch.min(tau, 1.0 - torch.cat([strength] * n))
        # the official marks sample n-1 of every n as perturbed (for B = 1: the last pass)
        stg = STG(req.stg_strategy, tuple(req.stg_blocks), tuple(range(n - 1, n * b, n))) if stg_on else None
        v = transformer(
            torch.cat([latents] * n).to(dtype),
            positions[None].expand(n * b, -1, -1),
            torch.cat([x for x, _ in texts]).to(dtype),
            tau,
            context_mask=torch.cat([m for _, m in texts]),
            stg=stg if stg is not None and stg.blocks else None,
        )
        pred = _guide(v, n, b, req, cfg_on, stg_on)
        latents = _euler(latents, pred, tau[:1], schedule, t, strength)

    latent = unpatchify_video(latents, f, h, w)
    if decoder is None:
        return LTXVResult(latent, None)
    noise_scale = req.decode_timestep if req.decode_noise_scale is None else req.decode_noise_scale
    latent_in = latent.to(next(decoder.parameters()).dtype)
    noise = None
    if decoder.cfg.timestep_conditioning:
        # ltx-video draws the decode noise with randn_like of its (B, C, F', H', W') view of the (B, T, C) tokens:
        # a strided tensor, which torch fills element by element (not as randn of that shape would)
        noise = torch.empty_like(latent_in).normal_(generator=vae_generator)
    video = decoder(latent_in, timestep=req.decode_timestep, noise_scale=noise_scale, generator=vae_generator,
                    noise=noise)  # fmt: skip
    return LTXVResult(latent, (video * 0.5 + 0.5).clamp(0, 1))
