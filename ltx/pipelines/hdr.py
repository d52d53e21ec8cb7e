"""HDR IC-LoRA: turn an ordinary (SDR) video into scene-linear HDR frames, as ltx-pipelines 1.2.0's
HDRICLoraPipeline does. A distilled checkpoint with the HDR IC-LoRA generates the clip in a log working space
(LogC3 unless the LoRA's `hdr_transform` metadata says otherwise); decoding inverts the curve.

- The size is padded up to multiples of 64 (the reference is fitted and reflect-padded to it, never
  cropped) and the output cropped back. Video only: the audio stream is not run.
- stage 1  half size, the distilled 8-step schedule, the reference appended as IC-LoRA reference tokens (at
  1/`reference_downscale_factor` of the stage's size).
- stage 2  the video upsampled x2, then refined in 2 x 2 x 2 overlapping latent tiles (8 frames / 6 cells
  of overlap, fitted to the latent) on the schedule [0.909375, 0.725, 0]: each tile is its own small clip
  (positions from 0, the reference cut to the tile, noise from seed + tile index); the tiles are blended
  with linear ramps (`ltx.sampling.latent_tiles`).
- decode in float32, codes -> scene-linear Rec.709 (`ltx.hdr`). `high_quality`: 2N - 1 frames are generated
  from each reference frame doubled, and every other output frame is kept.
Write the frames with `ltx.media_hdr.write_exr_frames`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import torch

from ltx.hdr import Transfer, decoded_to_linear, hdr_lora_transfer
from ltx.media import read_video
from ltx.media_hdr import aligned_size, sdr_video_to_pixels
from ltx.pipelines.engine import Stage, run_stage
from ltx.pipelines.models import Models
from ltx.pipelines.run import Request, Run, generator_for
from ltx.sampling import DISTILLED_SIGMAS, Denoiser, append_reference
from ltx.sampling.latent_tiles import latent_tiles
from ltx.vae import load_video_decoder, tiled_decode, tiled_encode, to_frames, upsample_latents

STAGE2_TILES = ((2, 8), (2, 6), (2, 6))  # (tiles, overlap in latent cells) for frames, rows, columns
STAGE2_SIGMAS = (0.909375, 0.725, 0.0)
TILED_ENCODE_PIXELS = 512 * 768  # references larger than this (height x width) are encoded in tiles


@dataclass
class HDRResult:
    linear: torch.Tensor  # (F, H, W, 3) float32 scene-linear Rec.709
    video_latent: torch.Tensor
    fps: float
    transfer: Transfer
    timings: list[tuple[str, float]] = field(default_factory=list)


def hdr_ic_lora(
    models: Models, req: Request, reference: str | os.PathLike, *, strength: float = 1.0, high_quality: bool = False
) -> HDRResult:
    """HDR frames of req.height x req.width (any size; generated padded to multiples of 64) and req.frames
    (1 + 8k) at req.fps for the SDR clip `reference`; `models` needs a distilled checkpoint, the x2 upsampler
    and exactly one LoRA, the HDR IC-LoRA. req.tiling tiles the decode (and the encode of a large reference)."""
    if len(models.loras) != 1:
        raise ValueError(f"the HDR pipeline needs exactly one LoRA, the HDR IC-LoRA; got {len(models.loras)}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"reference strength must be in [0, 1], got {strength}")
    metadata = models.loras[0].metadata
    transfer = hdr_lora_transfer(metadata) or Transfer.LOGC3
    scale = int(metadata.get("reference_downscale_factor", 1))
    if req.frames is None:
        raise ValueError("the HDR pipeline needs the frame count (req.frames, 1 + 8k)")
    frames = 2 * req.frames - 1 if high_quality else req.frames
    height, width = aligned_size(req.height, req.width, 64)
    run = Run(models, replace(req, height=height, width=width, frames=frames), 64)
    ((context, _),) = run.contexts([req.prompt])
    sdr = read_video(reference, (frames + 1) // 2 if high_quality else frames)

    def reference_latent(h: int, w: int, encoder) -> torch.Tensor:
        if h % scale or w % scale:
            raise ValueError(f"the size {h}x{w} must be divisible by the LoRA's reference downscale factor {scale}")
        pixels = sdr_video_to_pixels(sdr, h // scale, w // scale, dtype=models.dtype, device=models.device)
        if high_quality:
            pixels = pixels.repeat_interleave(2, dim=2)[:, :, :frames]
        with torch.inference_mode():
            if req.tiling is not None and (h // scale) * (w // scale) > TILED_ENCODE_PIXELS:
                return tiled_encode(encoder, pixels, req.tiling)
            return encoder(pixels)

    def stage(sigmas, size, latent, ref, generator, name) -> torch.Tensor:
        """One video-only denoising pass of a clip of `size` (frames, height, width), from `latent` if given."""
        conds = [lambda s: append_reference(s, ref, req.fps, scale, strength)]
        noise = float(sigmas[0]) if latent is not None else 1.0
        st = Stage(*size, req.fps, torch.tensor(sigmas), Denoiser(models.transformer(), context, None), conds,
                   noise_scale=noise, video_init=latent, name=name)  # fmt: skip
        start = time.perf_counter()
        video, _ = run_stage(st, generator, dtype=models.dtype, device=models.device, audio=False,
                             progress=req.progress)  # fmt: skip
        run.timings.append((f"{name} ({len(sigmas) - 1} steps)", time.perf_counter() - start))
        return video

    h1, w1 = height // 2, width // 2
    ref = reference_latent(h1, w1, models.video_encoder())
    models.release("video_encoder")
    video = stage(DISTILLED_SIGMAS, (frames, h1, w1), None, ref, run.generator, "stage 1")
    encoder = models.video_encoder()
    with torch.inference_mode():
        video = upsample_latents(video[:1], models.upsampler(), encoder.per_channel_statistics)
    ref = reference_latent(height, width, encoder)
    del encoder
    models.release("video_encoder", "upsampler")
    out = torch.zeros_like(video)
    for i, tile in enumerate(latent_tiles(tuple(video.shape[2:]), STAGE2_TILES)):
        f, h, w = tile.slices
        size = ((f.stop - f.start - 1) * 8 + 1, (h.stop - h.start) * 32, (w.stop - w.start) * 32)
        cut = ref[:, :, f, h.start // scale : h.stop // scale, w.start // scale : w.stop // scale]
        result = stage(STAGE2_SIGMAS, size, video[:, :, f, h, w], cut, generator_for(req.seed + i, models.device),
                       f"stage 2 tile {i + 1}")  # fmt: skip
        out[:, :, f, h, w] += result * tile.weights.to(result)
    models.release("transformer")
    start = time.perf_counter()
    decoder = load_video_decoder(models.ckpt, device=models.device, dtype=torch.float32)
    with torch.inference_mode():
        latent = out.float()
        if req.tiling is None:
            decoded = to_frames(decoder(latent, generator=run.generator))[0]
        else:
            chunks = tiled_decode(decoder, latent, req.tiling, generator=run.generator)
            decoded = torch.cat([to_frames(c)[0] for c in chunks])
    del decoder
    linear = decoded_to_linear(decoded, transfer)[:, : req.height, : req.width]
    run.timings.append(("decoding", time.perf_counter() - start))
    return HDRResult(linear[::2] if high_quality else linear, out, req.fps, transfer, run.timings)
