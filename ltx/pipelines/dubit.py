"""Dub-It (LTX-2.5): re-voice a clip. A distilled checkpoint with the Dub-It IC-LoRA generates new speech (and
the matching video, lips included) for a reference clip, following the prompt, at the reference's frame
count (rounded down to 1 + 8k) and frame rate, as ltx-pipelines 1.2.0's DubItPipeline does:

stage 1  half size, the distilled 8-step schedule (Euler): the reference video is appended as IC-LoRA
         reference tokens (at 1/`reference_downscale_factor` of the stage's size, as the LoRA's metadata
         says), the reference's whole audio track as clean audio tokens placed before time 0
         (`ltx.sampling.audio_reference`); video and audio are generated.
stage 2  the video upsampled x2 and refined at full size with the 3-step schedule, the reference video
         re-encoded at that size; the audio is stage 1's, held fixed (seen at sigma 0), with stage 1's
         audio appended as its reference.
The output carries stage 1's audio. Both stages run the same transformer (the IC-LoRA fused in).
"""

from __future__ import annotations

import os
from dataclasses import replace

import torch

from ltx.audio import encode_audio
from ltx.media import read_audio, video_info, video_to_pixels
from ltx.pipelines.engine import Stage
from ltx.pipelines.models import Models
from ltx.pipelines.run import Request, Result, Run
from ltx.sampling import DISTILLED_SIGMAS, STAGE2_SIGMAS, Denoiser, append_reference
from ltx.sampling.audio_reference import append_audio_reference
from ltx.vae import Tiling, tiled_encode, upsample_latents


def dub_it(models: Models, req: Request, reference: str | os.PathLike, reference_strength: float = 1.0) -> Result:
    """Re-voice the clip `reference` (a video file with an audio track) with `req.prompt`; req's frames and fps
    are ignored (the reference's are used), its images condition both stages as in the other pipelines.
    `models` needs a distilled checkpoint with audio, the x2 upsampler and exactly one LoRA: the Dub-It IC-LoRA."""
    if not 0.0 <= reference_strength <= 1.0:
        raise ValueError(f"reference_strength must be in [0, 1], got {reference_strength}")
    if len(models.loras) != 1:
        raise ValueError(
            f"Dub-It needs exactly one LoRA, the Dub-It IC-LoRA (loras=[(path, 1.0)]); got {len(models.loras)}"
        )
    if not models.has_audio:
        raise ValueError("Dub-It generates speech: the checkpoint's transformer has no audio stream")
    fps, frames, _, _ = video_info(reference)
    frames = (frames - 1) // 8 * 8 + 1
    run = Run(models, replace(req, frames=frames, fps=fps), 64)
    req = run.req
    scale = int(models.loras[0].metadata.get("reference_downscale_factor", 1))
    if (req.height // 2) % scale or (req.width // 2) % scale:
        raise ValueError(
            f"the stage-1 size {req.height // 2}x{req.width // 2} must be divisible by the IC-LoRA's reference "
            f"downscale factor {scale}"
        )
    ((vp, ap),) = run.contexts([req.prompt])
    got = read_audio(reference)
    if got is None:
        raise ValueError(f"{reference}: has no audio stream; Dub-It needs the clip's original speech")
    waveform, rate = got
    with torch.inference_mode():
        reference_audio = encode_audio(models.audio_encoder(), waveform.unsqueeze(0), rate)
    models.release("audio_encoder")

    def video_conditions(height: int, width: int, encoder) -> list:
        """The request's images and the reference video, encoded at height x width (the reference at 1/scale)."""
        conds = run.images(height, width, encoder=encoder)
        pixels = video_to_pixels(reference, height // scale, width // scale, req.frames, dtype=models.dtype,
                                 device=models.device)  # fmt: skip
        with torch.inference_mode():
            latent = tiled_encode(encoder, pixels, Tiling())
        conds.append(lambda s: append_reference(s, latent, req.fps, scale, reference_strength))
        return conds

    h, w = req.height // 2, req.width // 2
    conds = video_conditions(h, w, models.video_encoder())
    models.release("video_encoder")
    stage = Stage(req.frames, h, w, req.fps, torch.tensor(DISTILLED_SIGMAS), Denoiser(models.transformer(), vp, ap),
                  conds, [lambda s: append_audio_reference(s, reference_audio)], name="stage 1")  # fmt: skip
    video, audio = run.stage(stage, keep_transformer=True)  # stage 2 runs the same model

    encoder = models.video_encoder()
    with torch.inference_mode():
        video = upsample_latents(video[:1], models.upsampler(), encoder.per_channel_statistics)
    conds = video_conditions(req.height, req.width, encoder)
    del encoder
    models.release("video_encoder", "upsampler")
    sigmas = torch.tensor(STAGE2_SIGMAS)
    stage = Stage(req.frames, req.height, req.width, req.fps, sigmas, Denoiser(models.transformer(), vp, ap), conds,
                  [lambda s: append_audio_reference(s, audio)], noise_scale=float(sigmas[0]), audio_noise_scale=0.0,
                  video_init=video, audio_init=audio, freeze_audio=True, name="stage 2")  # fmt: skip
    video, _ = run.stage(stage)
    return run.decode(video, audio)
