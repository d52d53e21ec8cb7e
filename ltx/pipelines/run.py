"""One generation in progress: the request, its generator, the model version's defaults, the stage timings,
and the steps every pipeline shares (prompts, images, a denoising stage, the second stage, decoding).

Every pipeline seeds one generator with `Request.seed` as given. A negative seed is no special case: torch
seeds with it modulo 2^64 (as the official pipelines do), so it reproduces like any other seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import torch

from ltx.pipelines.engine import ImageCondition, Stage, check_size, image_conditions, run_stage
from ltx.pipelines.models import Models
from ltx.sampling import STAGE2_SIGMAS, Denoiser, Guidance, version_defaults
from ltx.vae import DiffusionTiling, Tiling, tiled_decode, to_uint8, upsample_latents
from ltx.vae.diffusion_loading import diffusion_decoder_config


@dataclass
class Request:
    prompt: str
    negative_prompt: str = ""
    seed: int = 10  # any int; a negative one seeds torch as it is (see `generator_for`)
    height: int = 512
    width: int = 768
    frames: int | None = 121  # None: predicted from the prompt by the LTX-2.5 duration head
    fps: float = 24.0
    steps: int | None = None  # None: the model version's default (40 for 2.0, 30 from 2.3)
    video_guidance: Guidance | None = None  # None: the version's defaults
    audio_guidance: Guidance | None = None
    images: list[ImageCondition] = field(default_factory=list)
    # decode in tiles (less memory for large clips); with the diffusion decoder a Tiling lets it choose
    # its tiles for the free memory (as the official pipelines do), a DiffusionTiling sets them
    tiling: Tiling | DiffusionTiling | None = None
    batch_passes: bool = False  # run the guidance passes as one batch (faster; equal up to float rounding)
    progress: bool = True


@dataclass
class Result:
    video: torch.Tensor | None  # (F, H, W, 3) uint8 (None: text-to-audio)
    audio: torch.Tensor | None  # (2, samples) float32 in [-1, 1]
    sample_rate: int | None
    video_latent: torch.Tensor | None
    audio_latent: torch.Tensor | None
    fps: float
    seed: int = 0
    timings: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds) of this run


def budget_tiling(gib: float) -> Tiling:
    """The decode's tiles under a GPU memory budget: ltx-core 1.2.0's default tiles from 16 GiB, its 1.0.0 ones
    (512 px / 64 frames) below (LTX-2.5's diffusion decoder then picks its own for the memory left)."""
    return Tiling() if gib >= 16 else Tiling(tile_px=512, overlap_px=64, tile_frames=64, overlap_frames=24)


def check_tiling(models: Models, tiling: Tiling | DiffusionTiling | None) -> None:
    """Raise before any work when the tiling does not fit the video VAE file's decoder. A `Tiling` (the
    conv decoder's) asks the diffusion decoder to choose its tiles for the free memory; a DiffusionTiling
    is only for the diffusion decoder, and is checked against it."""
    if not isinstance(tiling, DiffusionTiling):
        return
    if not models.diffusion_decoder:
        raise ValueError(
            f"a DiffusionTiling tiles LTX-2.5's diffusion decoder, but {models.video_vae.path.name} holds the conv "
            "decoder: give a Tiling"
        )
    tiling.check(diffusion_decoder_config(models.video_vae))


def generator_for(seed: int, device) -> torch.Generator:
    """The run's one generator: seeded with `seed` as given, negative seeds included."""
    return torch.Generator(device=device).manual_seed(seed)


def distilled_strength(models: Models) -> float:
    """The distilled LoRA's strength, or an error saying the pipeline needs one."""
    if models.distilled_lora is None:
        raise ValueError(
            "this pipeline's second stage runs with the distilled LoRA: give distilled_lora=(path, strength) "
            "(--distilled-lora FILE STRENGTH), or use the distilled pipeline with a distilled checkpoint"
        )
    return models.distilled_lora.strength


def predicted_frames(models: Models, req: Request, video: bool = True) -> int:
    """The clip length the duration head predicts for the prompt at req.fps (clamped to 1..20 s, 1 + 8k frames),
    from its video and audio contexts (`video=False`: the audio's alone, as for text-to-audio)."""
    from ltx.duration import predict_frames

    (context,) = models.encode([req.prompt])
    frames = predict_frames(models.duration_head(), context.video if video else None, context.audio, req.fps)[0]
    models.release("duration_head")
    return frames


def check_request(models: Models, req: Request) -> None:
    """The request's settings that no size check covers: steps, seeds, guidance (finite scales, STG blocks inside the
    model), before any work."""
    if req.steps is not None and (isinstance(req.steps, bool) or not isinstance(req.steps, int) or req.steps < 1):
        raise ValueError(f"steps must be a whole number >= 1 (or None for the version's default), got {req.steps!r}")
    if isinstance(req.seed, bool) or not isinstance(req.seed, int):
        raise ValueError(f"seed must be a whole number, got {req.seed!r}")
    from ltx.dit.loading import transformer_config

    layers = transformer_config(models.ckpt).num_layers
    for name, g in (("video_guidance", req.video_guidance), ("audio_guidance", req.audio_guidance)):
        if g is None:
            continue
        scales = {k: getattr(g, k) for k in ("cfg", "stg", "rescale", "modality")}
        bad = {k: v for k, v in scales.items() if not isinstance(v, (int, float)) or not math.isfinite(v)}
        if bad:
            raise ValueError(f"{name}: scales must be finite numbers, got {bad}")
        outside = [b for b in g.stg_blocks if not 0 <= b < layers]
        if g.stg and outside:
            raise ValueError(f"{name}: STG blocks {outside} are outside the transformer's {layers} blocks "
                             f"(0..{layers - 1})")  # fmt: skip


class Run:
    """A pipeline's shared steps for one request; checks the request before any work (the pipeline then reads
    `run.req`, whose frame count is predicted when the request left it None)."""

    def __init__(
        self, models: Models, req: Request, multiple: int, *, upsamples: bool | None = None, video: bool = True
    ):
        check_request(models, req)
        if req.frames is None:
            check_size(req.height, req.width, 1, req.fps, multiple)
            req = replace(req, frames=predicted_frames(models, req, video))
        check_size(req.height, req.width, req.frames, req.fps, multiple)
        if (multiple == 64 if upsamples is None else upsamples) and models.upsampler_path is None:
            raise ValueError("this pipeline upsamples its first stage: give the spatial x2 upsampler (upsampler=...)")
        if video and req.tiling is None and models.gpu_memory is not None:
            req = replace(req, tiling=budget_tiling(models.gpu_memory))  # a budget decodes in tiles
        if video:
            check_tiling(models, req.tiling)
        models.plan_for(req.frames, req.height, req.width, req.fps)
        self.models, self.req = models, req
        self.defaults = version_defaults(models.version)
        self.generator = generator_for(req.seed, models.device)
        self.timings: list[tuple[str, float]] = []

    def guidance(self) -> tuple[Guidance, Guidance, int]:
        d, req = self.defaults, self.req
        return req.video_guidance or d.video, req.audio_guidance or d.audio, req.steps or d.steps

    def contexts(self, prompts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        return [(e.video, e.audio) for e in self.models.encode(prompts)]

    def images(self, height: int, width: int, keyframes_only: bool = False, encoder=None) -> list:
        """The request's images encoded at height x width; the video encoder is freed after (unless given)."""
        conds = []
        if self.req.images:
            enc = encoder or self.models.video_encoder()
            conds = image_conditions(self.req.images, height, width, self.req.frames, self.req.fps, enc,
                                     keyframes_only=keyframes_only, default_crf=self.defaults.image_crf)  # fmt: skip
        if encoder is None:
            self.models.release("video_encoder")
        return conds

    def stage(self, stage: Stage, *, keep_transformer: bool = False, video: bool = True):
        """run_stage, timed; then the stage lets go of its transformer, which is released (freed before the
        next model loads, as the official pipelines do) unless `keep_transformer`. `video=False`: audio only."""
        start = time.perf_counter()
        out = run_stage(stage, self.generator, dtype=self.models.dtype, device=self.models.device,
                        audio=self.models.has_audio, video=video, progress=self.req.progress)  # fmt: skip
        self.timings.append((f"{stage.name} ({len(stage.sigmas) - 1} steps)", time.perf_counter() - start))
        stage.denoiser = None
        if not keep_transformer:
            self.models.release("transformer")
        return out

    def distilled_strength(self) -> float:
        return distilled_strength(self.models)

    def second_stage(self, video, audio, context, *, lora_strength, sampler="euler", freeze_audio=False,
                     keyframes_only=False, user_loras=True):  # fmt: skip
        """Upsample the stage-1 video x2 and refine it at full size with the 3-step distilled schedule
        (audio noised alike, or held as given with `freeze_audio`)."""
        models, req = self.models, self.req
        encoder = models.video_encoder()
        with torch.inference_mode():
            video = upsample_latents(video[:1], models.upsampler(), encoder.per_channel_statistics)
        conds = self.images(req.height, req.width, keyframes_only, encoder=encoder)
        del encoder
        models.release("video_encoder", "upsampler")
        sigmas = torch.tensor(STAGE2_SIGMAS)
        stage = Stage(req.frames, req.height, req.width, req.fps, sigmas,
                      Denoiser(models.transformer(lora_strength, user_loras), *context), conds,
                      noise_scale=float(sigmas[0]), audio_noise_scale=0.0 if freeze_audio else None,
                      video_init=video, audio_init=audio, freeze_audio=freeze_audio, sampler=sampler,
                      name="stage 2")  # fmt: skip
        return self.stage(stage)

    def decode(self, video, audio, fps: float | None = None, keep_audio=None) -> Result:
        """Frames (and the waveform, or `keep_audio` = (waveform, rate) as given) of the final latents."""
        start = time.perf_counter()
        result = self._decode(video, audio, self.req.fps if fps is None else fps, keep_audio)
        self.timings.append(("decoding", time.perf_counter() - start))
        result.timings = self.timings
        return result

    def _decode(self, video, audio, fps, keep_audio) -> Result:
        models, req = self.models, self.req
        frames = None if video is None else self._frames(video)
        if keep_audio is not None:
            return Result(frames, keep_audio[0], keep_audio[1], video, audio, fps, req.seed)
        if audio is None:
            return Result(frames, None, None, video, None, fps, req.seed)
        with torch.inference_mode():
            mel = models.audio_decoder()(audio)
            vocoder = models.vocoder()
            waveform = vocoder(mel)[0].float().cpu()  # the vocoder takes the mel in its own dtype, as the official
        rate = vocoder.output_sampling_rate
        del vocoder
        models.release("audio_decoder", "vocoder")
        return Result(frames, waveform, rate, video, audio, fps, req.seed)

    def _frames(self, video: torch.Tensor) -> torch.Tensor:
        decoder = self.models.video_decoder()
        with torch.inference_mode():
            if self.req.tiling is None:
                frames = to_uint8(decoder(video, generator=self.generator))[0].cpu()
            else:
                if self.models.parallel is not None:  # the tiles dealt to the processes
                    import torch.distributed as dist

                    from ltx.parallel import decode

                    chunks = decode(decoder, video, self.req.tiling, dist.group.WORLD, self.generator)
                else:
                    chunks = tiled_decode(decoder, video, self.req.tiling, generator=self.generator)
                frames = torch.cat([to_uint8(c)[0].cpu() for c in chunks])
        del decoder
        self.models.release("video_decoder")
        return frames
