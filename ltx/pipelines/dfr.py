"""DFR (LTX-2.5): a two-stage clip with generated keyframe slots, optionally refined x2 in time, as
ltx-pipelines 1.2.0's DFRPipeline runs it. One prompt, no guidance; the transformer runs the user's LoRAs and the
distilled LoRA, and needs the keyframe embedding (`use_keyframes_abs_pos_embedding`).

canvas   the request's frames (or the duration head's) padded to whole segments, a keyframe slot at the end of
         each segment (`dfr_layout.canvas`).
stage 1  half size, the distilled 8-step schedule (Euler): the request's images, then the slots (from zeros).
upsample the spatial x2 upsampler over the video and over the slots (as one K-frame latent).
stage 2  full size, the 3-step schedule (Euler) with the detailing IC-LoRA added when given: video from the
         upsampled latent, audio from stage 1's, both noised to the first sigma; the images, the slots seeded
         with the upsampled slots, then (with the detailing LoRA) stage 1's half-size video as the IC-LoRA
         reference at the LoRA's `reference_downscale_factor` (2 when its metadata has none).
rounds   0-2 temporal rounds (`dfr_rounds.temporal_round`, the temporal x2 upsampler): the clip's frames become
         2(N-1)+1 and the rate doubles; the keyframes carried are stage 2's slots, then each round's. The tiles'
         loops keep the latent in the run's dtype between steps (the official pipeline runs in bf16 only).
output   the requested length ((frames - 1) 2^rounds + 1, the canvas padding cut off), decoded at fps 2^rounds;
         the audio is stage 1's, cut to the clip's duration.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from ltx.pipelines.dfr_layout import Tile, canvas, output_frames
from ltx.pipelines.dfr_rounds import temporal_round
from ltx.pipelines.engine import ImageCondition, Stage, image_conditions
from ltx.pipelines.models import Models
from ltx.pipelines.run import Request, Result, Run, distilled_strength
from ltx.sampling import DISTILLED_SIGMAS, STAGE2_SIGMAS, Denoiser, append_reference
from ltx.sampling.keyframe_slots import append_keyframe_slots
from ltx.vae import upsample_latents

MAX_ROUNDS = 2
DEFAULT_DETAILING_DOWNSCALE = 2


def detailing_downscale(models: Models) -> int:
    """The detailing LoRA's reference downscale factor: its `reference_downscale_factor` metadata, else 2."""
    meta = models.detailing_lora.metadata if models.detailing_lora is not None else {}
    return int(meta.get("reference_downscale_factor", DEFAULT_DETAILING_DOWNSCALE))


def _check(models: Models, rounds: int) -> None:
    from ltx.dit.loading import transformer_config

    if rounds not in range(MAX_ROUNDS + 1):
        raise ValueError(f"temporal rounds must be 0, 1 or 2, got {rounds}")
    if rounds and models.temporal_upsampler_path is None:
        raise ValueError("temporal rounds need the temporal x2 upsampler (temporal_upsampler=...)")
    if not transformer_config(models.ckpt).use_keyframes_abs_pos_embedding:
        raise ValueError(
            f"{models.ckpt.path.name}: DFR generates keyframe slots, which need a transformer with the keyframe "
            "embedding (use_keyframes_abs_pos_embedding, LTX-2.5)"
        )
    if not models.has_audio:
        raise ValueError("DFR generates video with audio: the checkpoint's transformer has no audio stream")


def dfr(models: Models, req: Request, rounds: int = 0) -> Result:
    """Generate `req` with DFR and `rounds` temporal x2 rounds (0-2). `models` needs the distilled LoRA and the
    spatial x2 upsampler; optional: `detailing_lora` (stage 2) and `temporal_upsampler` (rounds > 0).
    req's negative prompt, steps and guidance are not used."""
    _check(models, rounds)
    strength = distilled_strength(models)
    run = Run(models, req, 64)
    requested = run.req.frames
    lay = canvas(requested)
    run.req = req = replace(run.req, frames=lay.frames)
    ((vp, ap),) = run.contexts([req.prompt])

    def slots(initial=None):
        return lambda s: append_keyframe_slots(s, lay.slots, req.fps, initial)

    # stage 1: half size, the images then the slots from zeros
    h, w = req.height // 2, req.width // 2
    conds = [*run.images(h, w), slots()]
    stage = Stage(req.frames, h, w, req.fps, torch.tensor(DISTILLED_SIGMAS), Denoiser(models.transformer(strength),
                  vp, ap), conds, name="stage 1")  # fmt: skip
    video, audio = run.stage(stage)
    half, stage1_audio = video[:1], audio

    # the spatial x2 upsampler over the slots and the video
    encoder = models.video_encoder()
    with torch.inference_mode():
        up_slots = upsample_latents(stage.slots, models.upsampler(), encoder.per_channel_statistics)
        up_video = upsample_latents(half, models.upsampler(), encoder.per_channel_statistics)
    conds = [*run.images(req.height, req.width, encoder=encoder), slots(up_slots)]
    del encoder
    models.release("video_encoder", "upsampler")
    detailing = models.detailing_lora is not None
    if detailing:
        scale = detailing_downscale(models)
        conds.append(lambda s: append_reference(s, half, req.fps, scale, 1.0))

    # stage 2: full size, detailing
    sigmas = torch.tensor(STAGE2_SIGMAS)
    denoiser = Denoiser(models.transformer(strength, detailing=detailing), vp, ap)
    stage = Stage(req.frames, req.height, req.width, req.fps, sigmas, denoiser, conds, noise_scale=float(sigmas[0]),
                  video_init=up_video, audio_init=stage1_audio, name="stage 2")  # fmt: skip
    del denoiser
    video, _ = run.stage(stage, keep_transformer=not detailing and rounds > 0)
    video = _rounds(run, video, list(lay.slots), stage.slots, rounds, strength, vp) if rounds else video

    # output: the requested length at the final rate, stage 1's audio cut to its duration
    frames = output_frames(requested, rounds)
    fps = req.fps * 2**rounds
    result = run.decode(video[:, :, : (frames - 1) // 8 + 1], stage1_audio, fps)
    if result.audio is not None:
        result.audio = result.audio[..., : min(result.audio.shape[-1], round(frames / fps * result.sample_rate))]
    return result


def _rounds(run: Run, video, seams, keyframes, rounds: int, strength: float, context) -> torch.Tensor:
    """The temporal rounds on stage 2's `video`, its slots (`seams`, `keyframes`) carried as keyframes."""
    models, req = run.models, run.req
    fps, frames = req.fps, req.frames
    denoise = Denoiser(models.transformer(strength), context)
    for r in range(1, rounds + 1):
        start = time.perf_counter()
        encoder = models.video_encoder()
        with torch.inference_mode():
            video = upsample_latents(video[:1], models.temporal_upsampler(), encoder.per_channel_statistics)
        frames, fps, seams = 2 * (frames - 1) + 1, 2 * fps, [2 * f for f in seams]
        video, seams, keyframes = temporal_round(
            denoise, video, seams, keyframes, round_index=r, fps=fps, seed=req.seed, generator=run.generator,
            images=_tile_images(run, encoder, frames, fps), model_dtype=models.dtype,
            progress=f"round {r}" if req.progress else None,
        )  # fmt: skip
        del encoder
        models.release("video_encoder", "temporal_upsampler")
        run.timings.append((f"temporal round {r} ({frames} frames at {fps:g} fps)", time.perf_counter() - start))
    models.release("transformer")
    return video


def _tile_images(run: Run, encoder, frames: int, fps: float):
    """A tile's image conditions at full size in its own frames: the first tile takes every image as given,
    the others the images inside their window, shifted to it (image frames are those of the request, as the
    official pipeline keeps them from round to round)."""
    from ltx.pipelines.dfr_rounds import MAX_CONDITIONING_FPS

    req = run.req

    def images(tile: Tile) -> list:
        if tile.pixel_start == 0:
            chosen: list[ImageCondition] = list(req.images)
        else:
            chosen = [replace(i, frame=i.frame - tile.pixel_start) for i in req.images
                      if tile.pixel_start <= i.frame <= tile.pixel_end]  # fmt: skip
        if not chosen:
            return []
        # the first tile accepts images past its window, as the official pipeline does: checked against the clip
        return image_conditions(chosen, req.height, req.width, frames, min(fps, MAX_CONDITIONING_FPS), encoder,
                                default_crf=run.defaults.image_crf)  # fmt: skip

    return images
