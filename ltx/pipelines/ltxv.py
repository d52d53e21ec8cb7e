"""LTX-Video 0.9.x generation, one pass: text-to-video, conditioning on images and video segments at any frame,
video-to-video from given latents or pixels.

The sampler, as ltx-video 0.1.2's LTXVideoPipeline computes it for one pass:
1. the timesteps: the request's own (the distilled recipes), or `steps` shifted for the clip's token count, less the
   skipped first / last ones; noise (B, T, C) drawn from `generator` in token order; with given latents (or pixels,
   encoded) the start is t0 * noise + (1 - t0) * latents;
2. the conditions (ltxv_conditions.py) blended in; their tokens carry a strength s and start at timestep 1 - s;
3. each step: hard-conditioned tokens (s = 1) re-noised from their clean latent by
   image_noise_scale * noise * t^2 (noise from `generator`, drawn whenever there are conditions); the guidance of
   the step (one setting, or per-interval settings chosen by the timestep); one transformer call over up to three
   passes [negative text, text, text with STG-skipped blocks]; per-token timesteps min(t, 1 - s);
   v = uncond + cfg * (text - uncond) + stg * (text - perturbed), then rescaled by
   rescaling * std(text) / std(v) + (1 - rescaling) when STG is on;
   the Euler step to the schedule's next timestep (per token; `stochastic`: x0 re-noised to it with fresh noise),
   applied only to tokens with t > 1 - s;
4. the extra conditioning tokens dropped; decode: the latent mixed with decode noise (decode_noise_scale),
   optionally tone-mapped, decoded at decode_timestep, frames mapped from [-1, 1] to [0, 1].

Positions: each token's latent (frame, row, column) times the VAE's (time, space, space) scale; with the
transformer's causal_temporal_positioning the frame becomes max(8f + 1 - 8, 0); time is then multiplied by 1/fps.
The draws ltx-video takes from torch's global generator (the encoder's posterior samples, the stochastic sampler's
noise, the decode noise) come from `aux_generator`, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ltx.dit.latents import unpatchify_video
from ltx.dit.ltxv import STG, STG_STRATEGIES, LTXVTransformer
from ltx.pipelines.ltxv_conditions import LTXVCondition, apply_conditions, randn
from ltx.sampling.schedule import ltxv_timesteps
from ltx.vae.video import VideoDecoder, VideoEncoder

T_EPS = 1e-6  # the official's slack when comparing timesteps
HARD = 1.0 - 1e-6  # a token whose strength exceeds this is hard-conditioned (re-noised each step)


@dataclass(frozen=True)
class GuidanceInterval:
    """The guidance of the steps from timestep `start` down (ltx-video's per-step lists with guidance_timesteps):
    a step uses the first interval whose start is at or below its timestep, or the last one."""

    start: float
    guidance_scale: float = 1.0
    stg_scale: float = 0.0
    rescaling: float = 1.0
    stg_blocks: tuple[int, ...] = ()


@dataclass(frozen=True)
class LTXVRequest:
    """One clip. Defaults are LTXVideoPipeline.__call__'s, except image_noise_scale (inference.py's 0.15)."""

    height: int
    width: int
    frames: int
    fps: float = 25.0
    steps: int = 20
    timesteps: tuple[float, ...] | None = None  # the schedule itself (descending, in (0, 1]); `steps` then unused
    skip_initial_steps: int = 0  # of the `steps` schedule, the first ones not run (video-to-video, second passes)
    skip_final_steps: int = 0  # ... and the last ones (the last step run then goes to 0)
    guidance_scale: float = 4.5  # CFG on when > 1
    stg_scale: float = 1.0  # STG on when > 0
    stg_blocks: tuple[int, ...] = ()  # the blocks skipped in the perturbed pass (none: it equals the text pass)
    stg_strategy: str = "attention_values"
    rescaling: float = 0.7  # applied when STG is on and rescaling != 1
    guidance: tuple[GuidanceInterval, ...] = ()  # per-interval guidance; replaces the four settings above
    cfg_star: bool = False  # scale the unconditional prediction by <text, uncond> / |uncond|^2
    stochastic: bool = False  # each step re-noises its x0 estimate to the next timestep instead of an Euler step
    terminal: float | None = 0.1  # the schedule's last timestep (the 0.9.x files' target_shift_terminal)
    image_noise_scale: float = 0.15
    decode_timestep: float = 0.0
    decode_noise_scale: float | None = None  # None: decode_timestep
    tone_map: float = 0.0  # latent tone-mapping compression before decoding, in [0, 1] (0: none)

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0 or self.height % 32 or self.width % 32:
            raise ValueError(f"height and width must be positive multiples of 32, got {self.height}x{self.width}")
        if self.frames < 1 or (self.frames - 1) % 8:
            raise ValueError(f"frames must be 8k + 1 (1, 9, 17, ...), got {self.frames}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.timesteps is not None:
            ts = self.timesteps
            if not ts or any(not 0 < t <= 1 for t in ts) or any(a <= b for a, b in zip(ts, ts[1:], strict=False)):
                raise ValueError(f"timesteps must be descending values in (0, 1], got {ts}")
            if self.skip_initial_steps or self.skip_final_steps:
                raise ValueError("skip_initial_steps / skip_final_steps apply to a `steps` schedule; with your own "
                                 "timesteps leave out the ones not to run")  # fmt: skip
        else:
            if self.steps < 1:
                raise ValueError(f"steps must be at least 1, got {self.steps}")
            if min(self.skip_initial_steps, self.skip_final_steps) < 0 or (
                self.skip_initial_steps + self.skip_final_steps >= self.steps
            ):
                raise ValueError(f"skip_initial_steps ({self.skip_initial_steps}) and skip_final_steps "
                                 f"({self.skip_final_steps}) must be >= 0 and leave at least one of the {self.steps} "
                                 "steps")  # fmt: skip
        if self.stg_strategy not in STG_STRATEGIES:
            raise ValueError(f"stg_strategy must be one of {STG_STRATEGIES}, got {self.stg_strategy!r}")
        starts = [g.start for g in self.guidance]
        if any(a <= b for a, b in zip(starts, starts[1:], strict=False)):
            raise ValueError(f"guidance intervals must start at descending timesteps, got {starts}")
        for name in ("decode_timestep", "tone_map"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.decode_noise_scale is not None and not 0.0 <= self.decode_noise_scale <= 1.0:
            raise ValueError(f"decode_noise_scale must be in [0, 1], got {self.decode_noise_scale}")
        if self.image_noise_scale < 0 or min(g.stg_scale for g in self.intervals()) < 0:
            raise ValueError(f"image_noise_scale and stg_scale must be >= 0, got {self.image_noise_scale}, "
                             f"{[g.stg_scale for g in self.intervals()]}")  # fmt: skip

    def intervals(self) -> tuple[GuidanceInterval, ...]:
        """The per-interval guidance (one interval from the four flat settings when none is given)."""
        return self.guidance or (
            GuidanceInterval(1.0, self.guidance_scale, self.stg_scale, self.rescaling, tuple(self.stg_blocks)),
        )

    def schedule(self, tokens: int) -> torch.Tensor:
        """The timesteps run (float32), for a clip of `tokens` latent tokens."""
        if self.timesteps is not None:
            return torch.tensor(self.timesteps, dtype=torch.float32)
        full = ltxv_timesteps(self.steps, tokens, terminal=self.terminal)
        return full[self.skip_initial_steps : self.steps - self.skip_final_steps]


def step_guidance(intervals: tuple[GuidanceInterval, ...], t: torch.Tensor) -> GuidanceInterval:
    """The interval of timestep `t` (a CPU tensor; float32 comparisons, as the official's Python floats against its
    tensor)."""
    if len(intervals) == 1:
        return intervals[0]
    for g in intervals:
        if torch.tensor(g.start, dtype=t.dtype) <= t:
            return g
    return intervals[-1]


@dataclass
class LTXVResult:
    latent: torch.Tensor  # (B, C, F', H', W') the final normalised latents
    video: torch.Tensor | None  # (B, 3, F, H, W) in [0, 1]; None without a decoder


def _check(transformer: LTXVTransformer, context, context_mask, negative, negative_mask, req, conditions, encoder,
           decoder, latents, media):  # fmt: skip
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
    for name, x in (("context", context), ("negative_context", negative)):
        if x is not None and not torch.isfinite(x).all():
            raise ValueError(f"{name} holds NaN or infinite values")
    if cfg.out_channels != cfg.in_channels:
        raise ValueError(f"the transformer predicts {cfg.out_channels} channels for {cfg.in_channels}: a learned-sigma "
                         "head is not supported (the released files predict the velocity alone)")  # fmt: skip
    for g in req.intervals():
        if g.stg_scale > 0 and any(not 0 <= i < cfg.num_layers for i in g.stg_blocks):
            raise ValueError(f"stg_blocks {g.stg_blocks} outside the transformer's {cfg.num_layers} blocks (the "
                             "recipes name the 13B's: Recipe.with_stg_blocks, or --stg-blocks)")  # fmt: skip
    for name, vae in (("decoder", decoder), ("encoder", encoder)):
        if vae is not None and vae.cfg.latent_channels != cfg.in_channels:
            raise ValueError(f"the VAE {name} has {vae.cfg.latent_channels} latent channels, the transformer "
                             f"{cfg.in_channels}")  # fmt: skip
    if (conditions or media is not None) and encoder is None:
        raise ValueError("conditions and media need the VAE encoder (encoder=load_video_encoder(...))")
    for i, item in enumerate(conditions):
        if not isinstance(item, LTXVCondition):
            raise TypeError(f"conditions[{i}] must be an LTXVCondition, got {type(item).__name__}")
        item.check(i, req.frames, b)
    if latents is not None and media is not None:
        raise ValueError("give latents or media to start from, not both")
    if media is not None:
        want = (3, req.frames, req.height, req.width)
        if media.ndim != 5 or media.shape[0] not in (1, b) or tuple(media.shape[1:]) != want:
            raise ValueError(f"media must be (1 or B, 3, F, H, W) = (.., {want}) pixels in [-1, 1], got "
                             f"{tuple(media.shape)}")  # fmt: skip
    for name, x in (("latents", latents), ("media", media)):
        if x is not None and not torch.isfinite(x).all():
            raise ValueError(f"{name} holds NaN or infinite values")
    return b


def _shape(x) -> object:
    return None if x is None else tuple(x.shape)


def _guide(v: torch.Tensor, n: int, b: int, g: GuidanceInterval, cfg_star: bool, cfg_on: bool, stg_on: bool):
    """The guided velocity from the passes [uncond?, text, perturbed?] stacked along the batch."""
    parts = v.chunk(n)
    pred = v
    if stg_on:
        text, perturbed = parts[-2:]
    if cfg_on:
        uncond, text = parts[:2]
        if cfg_star:
            pos, neg = text.view(b, -1), uncond.view(b, -1)
            alpha = torch.sum(pos * neg, dim=1, keepdim=True) / (torch.sum(neg**2, dim=1, keepdim=True) + 1e-8)
            uncond = alpha.view(b, 1, 1) * uncond  # (ltx-video broadcasts (B, 1) here: right for B = 1 only)
        pred = uncond + g.guidance_scale * (text - uncond)
    elif stg_on:
        pred = text
    if stg_on:
        pred = pred + g.stg_scale * (text - perturbed)
        if g.rescaling != 1.0 and g.stg_scale > 0.0:
            ratio = text.view(b, -1).std(dim=1, keepdim=True) / pred.view(b, -1).std(dim=1, keepdim=True)
            pred = pred * (g.rescaling * ratio + (1 - g.rescaling)).view(b, 1, 1)
    return pred


def _step(latents, pred, tau, schedule, t, strength, stochastic: bool, aux_generator):
    """To the schedule's next lower timestep, per token: latents - (tau - lower) * pred, or (`stochastic`) the x0
    estimate re-noised to `lower` with fresh noise. Tokens still above their conditioning level stay."""
    padded = torch.cat([schedule, torch.zeros(1, device=schedule.device)])[:, None, None]
    below = padded < tau[None] - T_EPS
    lower = (below * padded).max(dim=0).values
    dt = (tau - lower)[..., None]
    if stochastic:
        x0 = latents - tau[..., None] * pred
        nxt = tau[..., None] - dt
        noise = torch.randn(latents.shape, generator=aux_generator, device=latents.device, dtype=latents.dtype)
        stepped = (1 - nxt) * x0 + nxt * noise
    else:
        stepped = latents - dt * pred
    if strength is None:
        return stepped
    return torch.where((t - T_EPS < (1.0 - strength))[..., None], stepped, latents)


def tone_map(latent: torch.Tensor, compression: float) -> torch.Tensor:
    """Soften large latent values: x * (1 - 0.8 k sigmoid(4 k (|x| - 1))) with k = 0.75 * compression."""
    k = compression * 0.75
    return latent * (1.0 - 0.8 * k * torch.sigmoid(4.0 * k * (torch.abs(latent) - 1.0)))


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
    aux_generator: torch.Generator | None = None,
    conditions: tuple[LTXVCondition, ...] | list[LTXVCondition] = (),
    encoder: VideoEncoder | None = None,
    latents: torch.Tensor | None = None,
    media: torch.Tensor | None = None,
) -> LTXVResult:
    """Generate `req` from T5 features `context` (B, S, caption_channels) with a 0/1 `context_mask` (B, S) and
    the negative prompt's (None: zeros, as the official). `conditions`: images / video segments at frames (need
    `encoder`). `latents` (1 or B, C, F', H', W', normalised) or `media` (1 or B, 3, F, H, W pixels in [-1, 1],
    encoded): start from them noised to the first timestep instead of from noise. `generator` draws the initial,
    conditioning and re-noising noise (on its own device: a CPU generator gives a CUDA run the CPU run's noise, as
    ltx-video's pipeline does); `aux_generator` (None: torch's global generator, which ltx-video draws from; on the
    run's device) the encoder's posterior samples, the stochastic sampler's noise and the decoder's noise."""
    conditions = tuple(conditions)
    b = _check(transformer, context, context_mask, negative_context, negative_mask, req, conditions, encoder, decoder,
               latents, media)  # fmt: skip
    vae = decoder.cfg if decoder is not None else encoder.cfg if encoder is not None else None
    ts, ss = (vae.time_scale, vae.space_scale) if vae is not None else (8, 32)  # (8, 32): every released VAE
    if req.height % ss or req.width % ss:
        raise ValueError(f"height and width must be multiples of the VAE's {ss}, got {req.height}x{req.width}")
    cfg, device = transformer.cfg, transformer.patchify_proj.weight.device
    dtype = transformer.patchify_proj.weight.dtype
    f, h, w = (req.frames - 1) // ts + 1, req.height // ss, req.width // ss
    tokens, c = f * h * w, cfg.in_channels
    if latents is not None and (latents.ndim != 5 or latents.shape[0] not in (1, b) or
                                tuple(latents.shape[1:]) != (c, f, h, w)):  # fmt: skip
        raise ValueError(f"latents must be (1 or B, {c}, {f}, {h}, {w}) for this clip, got {tuple(latents.shape)}")
    schedule_cpu = req.schedule(tokens)
    if (latents is not None or media is not None) and not schedule_cpu[0] < 1.0:
        raise ValueError("starting from latents or media needs a first timestep below 1 (skip_initial_steps or "
                         "your own timesteps); at 1 they would be replaced by noise")  # fmt: skip
    guides = [step_guidance(req.intervals(), t) for t in schedule_cpu]
    schedule = schedule_cpu.to(device)
    negative_context = torch.zeros_like(context) if negative_context is None else negative_context
    negative_mask = torch.zeros_like(context_mask) if negative_mask is None else negative_mask

    if media is not None:
        weight = next(encoder.parameters())
        latents = encoder(media.to(weight.device, weight.dtype), sample=True, generator=aux_generator)
    # ltx-video's latents start in the text features' dtype: noise, start latents and conditions blend in it, and
    # the first step's float32 timesteps make them float32 (so bf16 runs round where it rounds)
    draw = context.dtype
    noise = unpatchify_video(randn((b, tokens, c), generator, device, draw), f, h, w)
    if latents is not None:
        noise = schedule[0] * noise + (1 - schedule[0]) * latents.to(device, draw)
    start = apply_conditions(noise, conditions, encoder, size=(req.height, req.width), scale=(ts, ss, ss),
                             causal=cfg.causal_temporal_positioning, generator=generator,
                             aux_generator=aux_generator, draw_dtype=draw)  # fmt: skip
    x, strength, n_all = start.tokens, start.strength, start.tokens.shape[1]
    clean = x.clone()
    positions = start.pixels.to(torch.float32)
    positions[0] = positions[0] * (1.0 / req.fps)
    positions = positions.to(device)

    for t, g in zip(schedule, guides, strict=True):
        cfg_on, stg_on = g.guidance_scale > 1.0, g.stg_scale > 0
        texts = [(negative_context, negative_mask)] * cfg_on + [(context, context_mask)] * (1 + stg_on)
        n = len(texts)
        if strength is not None and req.image_noise_scale > 0.0:
            renoise = randn((b, n_all, c), generator, device, x.dtype)
            x = torch.where((strength > HARD)[..., None], clean + req.image_noise_scale * renoise * (t**2), x)
        tau = t[None].expand(n * b).unsqueeze(-1)
        if strength is not None:
            tau = torch.min(tau, 1.0 - torch.cat([strength] * n))
        # the official marks sample n-1 of every n as perturbed (for B = 1: the last pass)
        stg = STG(req.stg_strategy, tuple(g.stg_blocks), tuple(range(n - 1, n * b, n))) if stg_on else None
        v = transformer(
            torch.cat([x] * n).to(dtype),
            positions[None].expand(n * b, -1, -1),
            torch.cat([y for y, _ in texts]).to(dtype),
            tau,
            context_mask=torch.cat([m for _, m in texts]),
            stg=stg if stg is not None and stg.blocks else None,
        )
        pred = _guide(v, n, b, g, req.cfg_star, cfg_on, stg_on)
        x = _step(x, pred, tau[:1], schedule, t, strength, req.stochastic, aux_generator)

    latent = unpatchify_video(x[:, start.extra :], f, h, w)  # (the official's view: see unpatchify_video)
    if decoder is None:
        return LTXVResult(latent, None)
    return LTXVResult(latent, decode(decoder, latent, req, aux_generator))


def decode(decoder: VideoDecoder, latent: torch.Tensor, req: LTXVRequest, aux_generator) -> torch.Tensor:
    """Frames (B, 3, F, H, W) in [0, 1] from the final latents: mixed with decode noise, tone-mapped (if asked),
    decoded at the decode timestep. The decoder's own noise (0.9.1's spatial noise) comes from `aux_generator`."""
    dtype = next(decoder.parameters()).dtype
    if not decoder.cfg.timestep_conditioning:
        x = tone_map(latent, req.tone_map) if req.tone_map > 0 else latent
        return (decoder(x.to(dtype)) * 0.5 + 0.5).clamp(0, 1)
    noise_scale = req.decode_timestep if req.decode_noise_scale is None else req.decode_noise_scale
    s = torch.full((latent.shape[0], 1, 1, 1, 1), noise_scale, dtype=torch.float32, device=latent.device)
    # ltx-video draws the decode noise with randn_like of its (B, C, F', H', W') view of the (B, T, C) tokens:
    # a strided tensor, which torch fills element by element (not as randn of that shape would), in its dtype
    noise = torch.empty_like(latent).normal_(generator=aux_generator)
    x = latent * (1 - s) + noise * s
    if req.tone_map > 0:
        x = tone_map(x, req.tone_map)
    x = x.to(dtype)  # mixed here, so the decoder mixes in nothing (noise 0, scale 0: x exactly)
    video = decoder(x, timestep=req.decode_timestep, noise_scale=0.0, noise=torch.zeros_like(x),
                    generator=aux_generator)  # fmt: skip
    return (video * 0.5 + 0.5).clamp(0, 1)
