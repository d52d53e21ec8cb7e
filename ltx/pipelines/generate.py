"""The LTX-2 generation pipelines, as the official ltx-pipelines run them (REFERENCE.md §6).

one_stage   text/image -> video + audio at the requested size (guided, LTX-2 schedule)
two_stage   stage 1 at half size (guided) -> latent upsampler x2 -> stage 2 with the distilled LoRA (3 steps);
            hq=True: the res_2s sampler, the distilled LoRA in both stages, the schedule shifted for the clip
distilled   a distilled checkpoint: 8 + 3 steps, no guidance
keyframes   two_stage with every image appended as a keyframe (interpolation between them)
ic_lora     distilled-style two stages with an IC-LoRA reference video appended in stage 1
audio_to_video  two_stage with the given audio's latent kept fixed
retake      regenerate a time window of an existing video (and its audio)

Each returns a `Result` (uint8 frames, stereo waveform, latents). Noise comes from one generator seeded
with `seed`, drawn in the official order, so a run reproduces the official pipeline's numbers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch
from einops import rearrange

from ltx.audio import encode_audio
from ltx.audio.timing import audio_token_count
from ltx.media import read_audio, video_info, video_to_pixels
from ltx.pipelines.engine import ImageCondition, Stage, check_size, image_conditions, run_stage
from ltx.pipelines.models import Models
from ltx.sampling import (
    DISTILLED_SIGMAS,
    OFF,
    STAGE2_SIGMAS,
    Denoiser,
    Guidance,
    append_reference,
    defaults,
    ltx2_sigmas,
    time_region,
)
from ltx.vae import Tiling, tiled_decode, to_uint8, upsample_latents


@dataclass
class Request:
    prompt: str
    negative_prompt: str = ""
    seed: int = 10
    height: int = 512
    width: int = 768
    frames: int = 121
    fps: float = 24.0
    steps: int | None = None  # None: the model version's default (40 for 2.0, 30 for 2.3)
    video_guidance: Guidance | None = None  # None: the version's defaults
    audio_guidance: Guidance | None = None
    images: list[ImageCondition] = field(default_factory=list)
    tiling: Tiling | None = None  # decode in tiles (less memory for large clips)
    batch_passes: bool = False  # run the guidance passes as one batch (faster; equal up to float rounding)
    progress: bool = True


@dataclass
class Result:
    video: torch.Tensor  # (F, H, W, 3) uint8
    audio: torch.Tensor | None  # (2, samples) float32 in [-1, 1]
    sample_rate: int | None
    video_latent: torch.Tensor
    audio_latent: torch.Tensor | None
    fps: float


def _guidance(models: Models, req: Request) -> tuple[Guidance, Guidance, int]:
    video, audio, steps = defaults(models.version)
    return req.video_guidance or video, req.audio_guidance or audio, req.steps or steps


def _setup(models: Models, req: Request, multiple: int) -> torch.Generator:
    """Check the request (and, for the two-stage pipelines, that an upsampler was given) before any work."""
    check_size(req.height, req.width, req.frames, req.fps, multiple)
    if multiple == 64 and models.upsampler_path is None:
        raise ValueError("this pipeline upsamples its first stage: give the spatial x2 upsampler (upsampler=...)")
    return torch.Generator(device=models.device).manual_seed(req.seed)


def _decode(models: Models, req: Request, video, audio, generator, fps: float, keep_audio=None) -> Result:
    start = time.perf_counter()
    result = _decode_all(models, req, video, audio, generator, fps, keep_audio)
    models.timings.append(("decoding", time.perf_counter() - start))
    return result


def _decode_all(models, req, video, audio, generator, fps, keep_audio) -> Result:
    decoder = models.video_decoder()
    with torch.inference_mode():
        if req.tiling is None:
            frames = to_uint8(decoder(video, generator=generator))[0].cpu()
        else:
            chunks = tiled_decode(decoder, video, req.tiling, generator=generator)
            frames = torch.cat([to_uint8(c)[0].cpu() for c in chunks])
    models.release("video_decoder")
    if keep_audio is not None:
        return Result(frames, keep_audio[0], keep_audio[1], video, audio, fps)
    if audio is None:
        return Result(frames, None, None, video, None, fps)
    with torch.inference_mode():
        mel = models.audio_decoder()(audio)
        vocoder = models.vocoder()
        waveform = vocoder(mel.to(next(vocoder.parameters()).dtype))[0].float().cpu()
    rate = vocoder.output_sampling_rate
    models.release("audio_decoder", "vocoder")
    return Result(frames, waveform, rate, video, audio, fps)


def _stage(models: Models, stage: Stage, gen, req: Request, keep_transformer: bool = False):
    """run_stage, timed into models.timings; then the stage lets go of its transformer, which is released
    (freed before the next model loads, as the official pipelines do) unless `keep_transformer`."""
    start = time.perf_counter()
    out = run_stage(stage, gen, dtype=models.dtype, device=models.device, audio=models.has_audio,
                    progress=req.progress)  # fmt: skip
    models.timings.append((f"{stage.name} ({len(stage.sigmas) - 1} steps)", time.perf_counter() - start))
    stage.denoiser = None
    if not keep_transformer:
        models.release("transformer")
    return out


def _distilled_strength(models: Models) -> float:
    if models.distilled_lora is None:
        raise ValueError(
            "this pipeline's second stage runs with the distilled LoRA: give distilled_lora=(path, strength) "
            "(--distilled-lora FILE STRENGTH), or use the distilled pipeline with a distilled checkpoint"
        )
    return models.distilled_lora.strength


def _contexts(models: Models, prompts: list[str]):
    out = models.encode(prompts)
    return [(e.video, e.audio) for e in out]


def _encode_images(models: Models, req: Request, height: int, width: int, keyframes_only: bool = False):
    if not req.images:
        return []
    return image_conditions(req.images, height, width, req.frames, req.fps, models.video_encoder(),
                            keyframes_only=keyframes_only)  # fmt: skip


# -- pipelines -----------------------------------------------------------------------------------------
def one_stage(models: Models, req: Request) -> Result:
    gen = _setup(models, req, 32)
    vg, ag, steps = _guidance(models, req)
    (vp, ap), (vn, an) = _contexts(models, [req.prompt, req.negative_prompt])
    conds = _encode_images(models, req, req.height, req.width)
    models.release("video_encoder")
    stage = Stage(req.frames, req.height, req.width, req.fps, ltx2_sigmas(steps),
                  Denoiser(models.transformer(), vp, ap, vg, ag, vn, an, req.batch_passes), conds,
                  name="generating")  # fmt: skip
    video, audio = _stage(models, stage, gen, req)
    return _decode(models, req, video, audio, gen, req.fps)


def _second_stage(models, req, gen, video, audio, context, *, lora_strength, sampler="euler", freeze_audio=False,
                  keyframes_only=False, user_loras=True):  # fmt: skip
    encoder = models.video_encoder()
    upsampler = models.upsampler()
    with torch.inference_mode():
        video = upsample_latents(video[:1], upsampler, encoder.per_channel_statistics)
    conds = _encode_images(models, req, req.height, req.width, keyframes_only)
    models.release("video_encoder", "upsampler")
    sigmas = torch.tensor(STAGE2_SIGMAS)
    stage = Stage(req.frames, req.height, req.width, req.fps, sigmas,
                  Denoiser(models.transformer(lora_strength, user_loras), *context), conds,
                  noise_scale=sigmas[0], video_init=video, audio_init=audio, freeze_audio=freeze_audio,
                  sampler=sampler, name="stage 2")  # fmt: skip
    return _stage(models, stage, gen, req)


def two_stage(
    models: Models, req: Request, *, hq: bool = False, lora_strengths: tuple[float, float] | None = None
) -> Result:
    """lora_strengths: the distilled LoRA's strength in stage 1 and stage 2 (default: none in stage 1 and
    the strength `Models` was given, as the official two-stage pipeline; the HQ pipeline uses both)."""
    gen = _setup(models, req, 64)
    vg, ag, steps = _guidance(models, req)
    s1, s2 = lora_strengths or (None, _distilled_strength(models))
    (vp, ap), (vn, an) = _contexts(models, [req.prompt, req.negative_prompt])
    h, w = req.height // 2, req.width // 2
    conds = _encode_images(models, req, h, w)
    models.release("video_encoder")
    tokens = ((req.frames - 1) // 8 + 1) * (h // 32) * (w // 32) if hq else None
    stage = Stage(req.frames, h, w, req.fps, ltx2_sigmas(steps, tokens),
                  Denoiser(models.transformer(s1), vp, ap, vg, ag, vn, an, req.batch_passes), conds,
                  sampler="res2s" if hq else "euler", name="stage 1")  # fmt: skip
    video, audio = _stage(models, stage, gen, req)
    video, audio = _second_stage(models, req, gen, video, audio, (vp, ap), lora_strength=s2,
                                 sampler="res2s" if hq else "euler")  # fmt: skip
    return _decode(models, req, video, audio, gen, req.fps)


def keyframes(models: Models, req: Request) -> Result:
    """Every image is a keyframe (appended tokens at its frame), in both stages."""
    gen = _setup(models, req, 64)
    strength = _distilled_strength(models)
    vg, ag, steps = _guidance(models, req)
    (vp, ap), (vn, an) = _contexts(models, [req.prompt, req.negative_prompt])
    h, w = req.height // 2, req.width // 2
    conds = _encode_images(models, req, h, w, keyframes_only=True)
    stage = Stage(req.frames, h, w, req.fps, ltx2_sigmas(steps),
                  Denoiser(models.transformer(), vp, ap, vg, ag, vn, an, req.batch_passes), conds,
                  name="stage 1")  # fmt: skip
    video, audio = _stage(models, stage, gen, req)
    video, audio = _second_stage(models, req, gen, video, audio, (vp, ap), lora_strength=strength, keyframes_only=True)
    return _decode(models, req, video, audio, gen, req.fps)


def distilled(models: Models, req: Request) -> Result:
    """A distilled checkpoint: no guidance, no negative prompt, the fixed 8-step and 3-step schedules."""
    gen = _setup(models, req, 64)
    ((vp, ap),) = _contexts(models, [req.prompt])
    h, w = req.height // 2, req.width // 2
    conds = _encode_images(models, req, h, w)
    stage = Stage(req.frames, h, w, req.fps, torch.tensor(DISTILLED_SIGMAS),
                  Denoiser(models.transformer(), vp, ap), conds, name="stage 1")  # fmt: skip
    video, audio = _stage(models, stage, gen, req, keep_transformer=True)  # stage 2 runs the same model
    video, audio = _second_stage(models, req, gen, video, audio, (vp, ap), lora_strength=None)
    return _decode(models, req, video, audio, gen, req.fps)


def audio_to_video(
    models: Models, req: Request, audio: str | os.PathLike | tuple[torch.Tensor, int], start: float = 0.0
) -> Result:
    """Video for the given audio (a file, or (waveform (channels, samples), rate)), which is kept as it is: its
    latent is frozen in both stages and the output carries the input audio (the clip's duration of it)."""
    gen = _setup(models, req, 64)
    strength = _distilled_strength(models)
    vg, _, steps = _guidance(models, req)
    (vp, ap), (vn, an) = _contexts(models, [req.prompt, req.negative_prompt])
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
    encoder = models.audio_encoder()
    latent = encode_audio(encoder, waveform.unsqueeze(0) if waveform.ndim == 2 else waveform, rate)
    models.release("audio_encoder")
    if latent.shape[2] < tokens:
        raise ValueError(
            f"the audio gives {latent.shape[2] / 25:.2f} s but the clip is {duration:.2f} s ({req.frames} frames at "
            f"{req.fps} fps): give a longer audio or fewer frames"
        )
    latent = latent[:, :, :tokens]
    h, w = req.height // 2, req.width // 2
    conds = _encode_images(models, req, h, w)
    models.release("video_encoder")
    # the audio guidance is off and has no negative context: its passes use the prompt's (as the official)
    stage = Stage(req.frames, h, w, req.fps, ltx2_sigmas(steps),
                  Denoiser(models.transformer(), vp, ap, vg, OFF, vn, None, req.batch_passes), conds,
                  audio_init=latent, freeze_audio=True, name="stage 1")  # fmt: skip
    video, _ = _stage(models, stage, gen, req)
    video, _ = _second_stage(models, req, gen, video, latent, (vp, ap), lora_strength=strength, freeze_audio=True)
    return _decode(models, req, video, latent, gen, req.fps, keep_audio=(waveform.float().cpu(), rate))


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
    the reference's tokens (at 1/downscale of the size, as the LoRA's `reference_downscale_factor` says),
    attended to with `attention_strength` (times `attention_mask`, pixel-space (1, 1, F, H, W) in [0, 1])."""
    if not 0.0 <= attention_strength <= 1.0:
        raise ValueError(f"attention_strength must be in [0, 1], got {attention_strength}")
    gen = _setup(models, req, 64)
    ((vp, ap),) = _contexts(models, [req.prompt])
    h, w = req.height // 2, req.width // 2
    scale = reference_downscale(models)
    if h % scale or w % scale:
        raise ValueError(f"the stage-1 size {h}x{w} must be divisible by the reference downscale factor {scale}")
    encoder = models.video_encoder()
    conds = _encode_images(models, req, h, w)
    pixels = video_to_pixels(reference, h // scale, w // scale, req.frames, dtype=models.dtype, device=models.device)
    with torch.inference_mode():
        ref = encoder(pixels)
    strength = attention_strength
    if attention_mask is not None:
        strength = latent_mask(attention_mask, ref.shape[2:]).to(models.device) * attention_strength
    elif attention_strength >= 1.0:
        strength = None
    conds.append(lambda s: append_reference(s, ref, req.fps, scale, reference_strength, strength))
    stage = Stage(req.frames, h, w, req.fps, torch.tensor(DISTILLED_SIGMAS),
                  Denoiser(models.transformer(), vp, ap), conds, name="stage 1")  # fmt: skip
    video, audio = _stage(models, stage, gen, req)
    if skip_stage_2:
        return _decode(models, req, video, audio, gen, req.fps)
    # the IC-LoRA conditions stage 1 only: stage 2 runs the plain distilled model
    video, audio = _second_stage(models, req, gen, video, audio, (vp, ap), lora_strength=None, user_loras=False)
    return _decode(models, req, video, audio, gen, req.fps)


def reference_downscale(models: Models) -> int:
    """The IC-LoRAs' `reference_downscale_factor` metadata (1 when absent); they must agree."""
    factors = {int(lora.metadata.get("reference_downscale_factor", 1)) for lora in models.loras} - {1}
    if len(factors) > 1:
        raise ValueError(f"the LoRAs ask for different reference downscale factors: {sorted(factors)}")
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
    keeps that modality entirely (as ltx-pipelines' code does)."""
    if start >= end:
        raise ValueError(f"start ({start}) must be before end ({end})")
    fps, frames, width, height = video_info(video)
    check_size(height, width, frames, fps, 32)
    seed = req.seed if req.seed >= 0 else int(torch.randint(0, 2**31, (1,), device=models.device).item())
    gen = torch.Generator(device=models.device).manual_seed(seed)
    vg, ag, steps = _guidance(models, req)
    encoder = models.video_encoder()
    pixels = video_to_pixels(video, height, width, frames, dtype=models.dtype, device=models.device)
    with torch.inference_mode():
        video_latent = encoder(pixels)
    models.release("video_encoder")
    window = (start, end) if regenerate_video else (0.0, 0.0)
    video_conds = [lambda s: time_region(s, *window, fps=fps)]
    audio_latent, audio_conds = None, []
    got = read_audio(video)
    if got is not None:
        waveform, rate = got
        with torch.inference_mode():
            audio_latent = encode_audio(models.audio_encoder(), waveform.unsqueeze(0).to(models.dtype), rate)
        models.release("audio_encoder")
        tokens = audio_token_count(frames, fps)
        audio_latent = audio_latent[:, :, :tokens]
        if audio_latent.shape[2] < tokens:  # pad a short track with zeros, as the official retake does
            pad = audio_latent.new_zeros(*audio_latent.shape[:2], tokens - audio_latent.shape[2], audio_latent.shape[3])
            audio_latent = torch.cat([audio_latent, pad], dim=2)
        a_window = (start, end) if regenerate_audio else (0.0, 0.0)
        audio_conds = [lambda s: time_region(s, *a_window)]
    prompts = [req.prompt] if distilled else [req.prompt, req.negative_prompt]
    contexts = _contexts(models, prompts)
    guidance = () if distilled else (vg, ag, *contexts[1], req.batch_passes)
    sigmas = torch.tensor(DISTILLED_SIGMAS) if distilled else ltx2_sigmas(steps)
    stage = Stage(frames, height, width, fps, sigmas, Denoiser(models.transformer(), *contexts[0], *guidance),
                  video_conds, audio_conds, video_init=video_latent, audio_init=audio_latent,
                  name="retake")  # fmt: skip
    video_out, audio_out = _stage(models, stage, gen, req)
    return _decode(models, req, video_out, audio_out, gen, fps)


PIPELINES = {
    "one-stage": one_stage,
    "two-stage": two_stage,
    "distilled": distilled,
    "keyframes": keyframes,
    "a2v": audio_to_video,
    "retake": retake,
    "ic-lora": ic_lora,
}
