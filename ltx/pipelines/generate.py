"""The LTX-2 generation pipelines, as the official ltx-pipelines 1.2.0 run them.

one_stage   text/image -> video + audio at the requested size (guided, LTX-2 schedule)
two_stage   stage 1 at half size (guided) -> latent upsampler x2 -> stage 2 with the distilled LoRA (3 steps);
            the audio is stage 1's (stage 2 refines the video only). hq=True: the res_2s sampler, the
            distilled LoRA in both stages, the schedule shifted for the clip
distilled   a distilled checkpoint: 8 + 3 steps, no guidance; from LTX-2.5 stage 1 samples with ancestral Euler
keyframes   two_stage with every image appended as a keyframe (interpolation between them)
ic_lora     distilled-style two stages with an IC-LoRA reference video appended in stage 1
audio_to_video  two_stage with the given audio's latent held fixed
retake      regenerate a time window of an existing video (and its audio)
text_to_audio   audio alone (the transformer's audio stream), guided on the audio only

Each returns a `Result` (uint8 frames, stereo waveform, latents, the run's stage timings). Noise comes from
one generator seeded with `seed`, drawn in the official order, so a run reproduces the official numbers.
`ltx.pipelines.registry` lists them for the command line, the Python API and the parity check.
"""

from __future__ import annotations

import os
from dataclasses import replace

import torch
from einops import rearrange

from ltx.audio import encode_audio
from ltx.audio.timing import audio_token_count
from ltx.dit.latents import video_token_count
from ltx.media import read_audio, video_info, video_to_pixels
from ltx.pipelines.engine import Stage, check_size
from ltx.pipelines.models import Models
from ltx.pipelines.run import Request, Result, Run, distilled_strength
from ltx.sampling import DISTILLED_SIGMAS, OFF, Denoiser, append_reference, ltx2_sigmas, time_region

ANCESTRAL_SEED_OFFSET = 10000  # the distilled ancestral stage's own noise: seed + this


# -- pipelines -----------------------------------------------------------------------------------------
def one_stage(models: Models, req: Request) -> Result:
    run = Run(models, req, 32)
    req = run.req
    vg, ag, steps = run.guidance()
    (vp, ap), (vn, an) = run.contexts([req.prompt, req.negative_prompt])
    conds = run.images(req.height, req.width)
    stage = Stage(req.frames, req.height, req.width, req.fps, ltx2_sigmas(steps),
                  Denoiser(models.transformer(), vp, ap, vg, ag, vn, an, req.batch_passes), conds,
                  name="generating")  # fmt: skip
    video, audio = run.stage(stage)
    return run.decode(video, audio)


def two_stage(
    models: Models, req: Request, *, hq: bool = False, lora_strengths: tuple[float, float] | None = None
) -> Result:
    """lora_strengths: the distilled LoRA's strength in stage 1 and stage 2 (default: none in stage 1 and
    the strength `Models` was given, as the official two-stage pipeline; the HQ pipeline uses both)."""
    run = Run(models, req, 64)
    req = run.req
    vg, ag, steps = run.guidance()
    s1, s2 = lora_strengths or (None, run.distilled_strength())
    (vp, ap), (vn, an) = run.contexts([req.prompt, req.negative_prompt])
    h, w = req.height // 2, req.width // 2
    conds = run.images(h, w)
    tokens = video_token_count(req.frames, h, w) if hq else None
    sampler = "res2s" if hq else "euler"
    stage = Stage(req.frames, h, w, req.fps, ltx2_sigmas(steps, tokens),
                  Denoiser(models.transformer(s1), vp, ap, vg, ag, vn, an, req.batch_passes), conds,
                  sampler=sampler, name="stage 1")  # fmt: skip
    video, audio = run.stage(stage)
    video, _ = run.second_stage(video, audio, (vp, ap), lora_strength=s2, sampler=sampler)
    return run.decode(video, audio)  # stage 2 refines the video only: the audio is stage 1's


def two_stage_hq(models: Models, req: Request, *, stage1_lora: float = 0.25) -> Result:
    """two_stage(hq=True) with the distilled LoRA at `stage1_lora` in stage 1 and at its given strength in stage 2."""
    return two_stage(models, req, hq=True, lora_strengths=(stage1_lora, distilled_strength(models)))


def keyframes(models: Models, req: Request) -> Result:
    """Every image is a keyframe (appended tokens at its frame), in both stages."""
    run = Run(models, req, 64)
    req = run.req
    strength = run.distilled_strength()
    vg, ag, steps = run.guidance()
    (vp, ap), (vn, an) = run.contexts([req.prompt, req.negative_prompt])
    h, w = req.height // 2, req.width // 2
    conds = run.images(h, w, keyframes_only=True)
    stage = Stage(req.frames, h, w, req.fps, ltx2_sigmas(steps),
                  Denoiser(models.transformer(), vp, ap, vg, ag, vn, an, req.batch_passes), conds,
                  name="stage 1")  # fmt: skip
    video, audio = run.stage(stage)
    video, audio = run.second_stage(video, audio, (vp, ap), lora_strength=strength, keyframes_only=True)
    return run.decode(video, audio)


def distilled(models: Models, req: Request) -> Result:
    """A distilled checkpoint: no guidance, no negative prompt, the fixed 8-step and 3-step schedules. From
    LTX-2.5 stage 1 samples with ancestral Euler (eta 1) with its own noise, seeded with seed + 10000."""
    run = Run(models, req, 64)
    req = run.req
    ((vp, ap),) = run.contexts([req.prompt])
    h, w = req.height // 2, req.width // 2
    conds = run.images(h, w)
    ancestral = run.defaults.ancestral_distilled
    stage = Stage(req.frames, h, w, req.fps, torch.tensor(DISTILLED_SIGMAS), Denoiser(models.transformer(), vp, ap),
                  conds, sampler="ancestral" if ancestral else "euler", seed=req.seed + ANCESTRAL_SEED_OFFSET,
                  name="stage 1")  # fmt: skip
    video, audio = run.stage(stage, keep_transformer=True)  # stage 2 runs the same model
    video, audio = run.second_stage(video, audio, (vp, ap), lora_strength=None)
    return run.decode(video, audio)


def audio_to_video(
    models: Models, req: Request, audio: str | os.PathLike | tuple[torch.Tensor, int], start: float = 0.0
) -> Result:
    """Video for the given audio (a file, or (waveform (channels, samples), rate)), which is kept as it is: its
    latent is held fixed (seen at sigma 0) in both stages and the output carries the input audio (the clip's
    duration of it)."""
    run = Run(models, req, 64)
    req = run.req
    strength = run.distilled_strength()
    vg, _, steps = run.guidance()
    (vp, ap), (vn, an) = run.contexts([req.prompt, req.negative_prompt])
    duration = req.frames / req.fps
    if isinstance(audio, tuple):
        waveform, rate = audio
        waveform = waveform[..., round(start * rate) : round((start + duration) * rate)]
    else:
        got = read_audio(audio, start, duration)
        if got is None:
            raise ValueError(f"{audio}: has no audio stream")
        waveform, rate = got
    tokens = audio_token_count(req.frames, req.fps)
    latent = encode_audio(models.audio_encoder(), waveform.unsqueeze(0) if waveform.ndim == 2 else waveform, rate)
    models.release("audio_encoder")
    if latent.shape[2] < tokens:
        raise ValueError(
            f"the audio gives {latent.shape[2] / 25:.2f} s but the clip is {duration:.2f} s ({req.frames} frames at "
            f"{req.fps} fps): give a longer audio or fewer frames"
        )
    latent = latent[:, :, :tokens]
    h, w = req.height // 2, req.width // 2
    conds = run.images(h, w)
    # the audio guidance is off and has no negative context: its passes use the prompt's (as the official)
    stage = Stage(req.frames, h, w, req.fps, ltx2_sigmas(steps),
                  Denoiser(models.transformer(), vp, ap, vg, OFF, vn, None, req.batch_passes), conds,
                  audio_noise_scale=0.0, audio_init=latent, freeze_audio=True, name="stage 1")  # fmt: skip
    video, _ = run.stage(stage)
    video, _ = run.second_stage(video, latent, (vp, ap), lora_strength=strength, freeze_audio=True)
    return run.decode(video, latent, keep_audio=(waveform.float().cpu(), rate))


def ic_lora(
    models: Models,
    req: Request,
    reference: str | os.PathLike,
    reference_strength: float = 1.0,
    attention_strength: float = 1.0,
    attention_mask: torch.Tensor | None = None,
    skip_stage_2: bool = False,
) -> Result:
    """Generate following a reference video with an IC-LoRA (given in `Models(loras=...)`): stage 1 appends
    the reference's tokens (at 1/downscale of the size and 1/temporal-scale of the frame rate, as the LoRA's
    `reference_downscale_factor` / `reference_temporal_scale_factor` say), attended to with
    `attention_strength` (times `attention_mask`, pixel-space (1, 1, F, H, W) in [0, 1])."""
    if not 0.0 <= attention_strength <= 1.0:
        raise ValueError(f"attention_strength must be in [0, 1], got {attention_strength}")
    run = Run(models, req, 64, upsamples=not skip_stage_2)
    req = run.req
    ((vp, ap),) = run.contexts([req.prompt])
    h, w = req.height // 2, req.width // 2
    scale, every = reference_downscale(models), reference_temporal_scale(models)
    if h % scale or w % scale:
        raise ValueError(f"the stage-1 size {h}x{w} must be divisible by the reference downscale factor {scale}")
    encoder = models.video_encoder()
    conds = run.images(h, w, encoder=encoder)
    pixels = video_to_pixels(reference, h // scale, w // scale, req.frames, dtype=models.dtype, device=models.device)
    if every > 1:  # the first frame, then every `every`-th (the causal VAE's frame grid)
        pixels = pixels[:, :, [0, *range(1, pixels.shape[2], every)]]
    with torch.inference_mode():
        ref = encoder(pixels)
    del encoder
    models.release("video_encoder")
    strength = attention_strength
    if attention_mask is not None:
        strength = latent_mask(attention_mask, ref.shape[2:]).to(models.device) * attention_strength
    elif attention_strength >= 1.0:
        strength = None
    conds.append(lambda s: append_reference(s, ref, req.fps, scale, reference_strength, strength, every))
    stage = Stage(req.frames, h, w, req.fps, torch.tensor(DISTILLED_SIGMAS),
                  Denoiser(models.transformer(), vp, ap), conds, name="stage 1")  # fmt: skip
    video, audio = run.stage(stage)
    if skip_stage_2:
        return run.decode(video, audio)
    # the IC-LoRA conditions stage 1 only: stage 2 runs the plain distilled model
    video, audio = run.second_stage(video, audio, (vp, ap), lora_strength=None, user_loras=False)
    return run.decode(video, audio)


def text_to_audio(models: Models, req: Request) -> Result:
    """Audio of req.frames / req.fps seconds from the prompt, with the transformer's audio stream alone and
    guidance on the audio only (its default drops the modality term: there is no video to isolate from).
    The request's size and images are not used."""
    if not models.has_audio:
        raise ValueError(f"{models.ckpt.path.name}: the video-only transformer cannot generate audio")
    run = Run(models, replace(req, height=32, width=32, images=[]), 32, upsamples=False, video=False)
    req = run.req
    _, ag, steps = run.guidance()
    if req.audio_guidance is None:
        ag = replace(ag, modality=1.0)
    (_, ap), (_, an) = run.contexts([req.prompt, req.negative_prompt])
    denoiser = Denoiser(models.transformer(audio_only=True), None, ap, OFF, ag, None, an, req.batch_passes)
    stage = Stage(req.frames, 32, 32, req.fps, ltx2_sigmas(steps), denoiser, name="generating audio")
    _, audio = run.stage(stage, video=False)
    return run.decode(None, audio)


def reference_downscale(models: Models) -> int:
    """The IC-LoRAs' `reference_downscale_factor` metadata (1 when absent); they must agree."""
    factors = {int(lora.metadata.get("reference_downscale_factor", 1)) for lora in models.loras} - {1}
    if len(factors) > 1:
        raise ValueError(f"the LoRAs ask for different reference downscale factors: {sorted(factors)}")
    return factors.pop() if factors else 1


def reference_temporal_scale(models: Models) -> int:
    """The IC-LoRAs' `reference_temporal_scale_factor` metadata (1 when absent); they must agree."""
    factors = {int(lora.metadata.get("reference_temporal_scale_factor", 1)) for lora in models.loras} - {1}
    if len(factors) > 1:
        raise ValueError(f"the LoRAs ask for different reference temporal scale factors: {sorted(factors)}")
    return factors.pop() if factors else 1


def latent_mask(mask: torch.Tensor, latent_shape: tuple[int, int, int]) -> torch.Tensor:
    """A pixel-space (B, 1, F, H, W) mask -> (B, F'*H'*W') per token: area-averaged in space, the first
    frame alone and then groups of frames averaged (the causal VAE's frame layout)."""
    f, h, w = latent_shape
    b, frames = mask.shape[0], mask.shape[2]
    x = torch.nn.functional.interpolate(rearrange(mask, "b 1 f h w -> (b f) 1 h w"), size=(h, w), mode="area")
    x = rearrange(x, "(b f) 1 h w -> b 1 f h w", b=b)
    if frames > 1 and f > 1:
        if (frames - 1) % (f - 1):
            raise ValueError(f"a mask of {frames} frames does not map onto {f} latent frames")
        rest = rearrange(x[:, :, 1:], "b 1 (f t) h w -> b 1 f t h w", t=(frames - 1) // (f - 1)).mean(dim=3)
        x = torch.cat([x[:, :, :1], rest], dim=2)
    else:
        x = x[:, :, :1]
    return rearrange(x, "b 1 f h w -> b (f h w)")


def retake(
    models: Models,
    req: Request,
    video: str | os.PathLike,
    start: float,
    end: float,
    *,
    regenerate_video: bool = True,
    regenerate_audio: bool = True,
    distilled: bool = False,
) -> Result:
    """Regenerate [start, end) seconds of `video` (its size, frame count and fps are kept; req's are
    ignored); outside the window the video and audio stay as they were. regenerate_video / _audio=False
    holds that modality fixed entirely (seen at sigma 0)."""
    if start >= end:
        raise ValueError(f"start ({start}) must be before end ({end})")
    fps, frames, width, height = video_info(video)
    check_size(height, width, frames, fps, 32)
    run = Run(models, replace(req, height=height, width=width, frames=frames, fps=fps, images=[]), 32)
    req = run.req
    vg, ag, steps = run.guidance()
    encoder = models.video_encoder()
    pixels = video_to_pixels(video, height, width, frames, dtype=models.dtype, device=models.device)
    with torch.inference_mode():
        video_latent = encoder(pixels)
    del encoder
    models.release("video_encoder")
    video_conds = [lambda s: time_region(s, start, end, fps=fps)] if regenerate_video else []
    audio_latent, audio_conds = None, []
    got = read_audio(video, 0.0, frames / fps)
    if got is not None:
        waveform, rate = got
        with torch.inference_mode():
            audio_latent = encode_audio(models.audio_encoder(), waveform.unsqueeze(0), rate)  # (mel in float32)
        models.release("audio_encoder")
        tokens = audio_token_count(frames, fps)
        audio_latent = audio_latent[:, :, :tokens]
        if audio_latent.shape[2] < tokens:  # pad a short track with zeros, as the official retake does
            pad = audio_latent.new_zeros(*audio_latent.shape[:2], tokens - audio_latent.shape[2], audio_latent.shape[3])
            audio_latent = torch.cat([audio_latent, pad], dim=2)
        audio_conds = [lambda s: time_region(s, start, end)] if regenerate_audio else []
    prompts = [req.prompt] if distilled else [req.prompt, req.negative_prompt]
    contexts = run.contexts(prompts)
    guidance = () if distilled else (vg, ag, *contexts[1], req.batch_passes)
    sigmas = torch.tensor(DISTILLED_SIGMAS) if distilled else ltx2_sigmas(steps)
    stage = Stage(frames, height, width, fps, sigmas, Denoiser(models.transformer(), *contexts[0], *guidance),
                  video_conds, audio_conds, video_init=video_latent, audio_init=audio_latent,
                  freeze_video=not regenerate_video,
                  freeze_audio=audio_latent is not None and not regenerate_audio, name="retake")  # fmt: skip
    video_out, audio_out = run.stage(stage)
    return run.decode(video_out, audio_out, fps)
