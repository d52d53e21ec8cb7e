"""Dub-It pipeline parity: `ltx.pipelines.dubit.dub_it` against the same flow built from the official
ltx-pipelines 1.2.0 blocks as DubItPipeline.__call__ runs them (IC-LoRA reference video tiled-encoded at
1/downscale, the reference audio appended before time 0 in stage 1, stage 1's audio frozen and appended as
the reference in stage 2), on a built-in tiny checkpoint in float32 on the CPU: final latents, frames, waveform.

Both sides read the same files (the pipeline comparisons' inputs, plus a Dub-It IC-LoRA whose metadata asks for
a reference at half size) and draw noise from one generator seeded alike."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ltx.parity.compare import Row, compare_exact
from ltx.parity.oracle import require
from ltx.parity.pipelines import Inputs, _mel_frontend, _Official
from ltx.pipelines import ImageCondition, Models, Request
from ltx.pipelines.dubit import dub_it

REFERENCE_STRENGTH = 0.9


def dubit_lora(inp: Inputs) -> Path:
    """A tiny IC-LoRA for `inp.checkpoint` with `reference_downscale_factor` 2 in its metadata."""
    from ltx.parity.pipeline_fixtures import write_tiny_lora

    path = inp.checkpoint.with_name(inp.checkpoint.stem + "-dubit-lora.safetensors")
    if not path.exists():
        write_tiny_lora(inp.checkpoint, path, seed=3, every=4, metadata={"reference_downscale_factor": "2"})
    return path


def dubit_inputs(folder: str | Path, name: str = "ltx-2.3-tiny") -> Inputs:
    """Only the files Dub-It reads (a bf16 copy of the built-in tiny checkpoint `name`, the upsampler, prompts, an
    image and a video with sound) in `folder`; the LoRA fields the other pipelines use are left unset."""
    from ltx.parity import pipeline_fixtures as fx
    from ltx.parity.fixtures import write_tiny_checkpoint, write_tiny_upsampler

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = fx.write_bf16_copy(write_tiny_checkpoint(name, folder / f"{name}.safetensors"),
                              folder / f"{name}-bf16.safetensors")  # fmt: skip
    unused = folder / "unused"
    return Inputs(
        checkpoint=ckpt,
        upsampler=write_tiny_upsampler("ltx-2-upsampler-x2-tiny", folder / "upsampler-x2-tiny.safetensors"),
        distilled_lora=unused,
        ic_lora=unused,
        prompts=fx.write_prompt_file(ckpt, folder / f"{name}-prompts.safetensors", ["a prompt"], 0),
        image=fx.write_test_image(folder / "image.png"),
        video=fx.write_test_video(folder / "video.mp4", 9, 64, 96, 24.0),
        audio=unused,
    )


def dubit_request(inp: Inputs) -> Request:
    return Request("a prompt", seed=7, height=128, width=128, images=[ImageCondition(inp.image, 0, 0.9)],
                   progress=False)  # fmt: skip


def run_ours(inp: Inputs, dtype=torch.float32, device="cpu") -> dict:
    models = Models(inp.checkpoint, prompts=inp.prompts, upsampler=inp.upsampler, loras=[(dubit_lora(inp), 1.0)],
                    device=device, dtype=dtype)  # fmt: skip
    r = dub_it(models, dubit_request(inp), inp.video, REFERENCE_STRENGTH)
    return {"video_latent": r.video_latent, "audio_latent": r.audio_latent, "frames": r.video, "waveform": r.audio}


def run_official(inp: Inputs, dtype=torch.float32, device="cpu") -> dict:
    o = _Official(inp, dtype, torch.device(device), inp.checkpoint)
    with torch.no_grad(), _mel_frontend():
        return _official_dubit(o, inp, dubit_request(inp))


def _official_dubit(o: _Official, inp: Inputs, req: Request) -> dict:
    media, helpers = require("ltx_pipelines.utils.media_io"), require("ltx_pipelines.utils.helpers")
    iclora, dubit = require("ltx_pipelines.iclora_utils"), require("ltx_pipelines.dubit")
    consts, cond = require("ltx_pipelines.utils.constants"), require("ltx_core.conditioning")
    encode_audio = require("ltx_core.model.audio_vae").encode_audio
    tiles = require("ltx_core.model.video_vae").TileSizeConfig.default()
    lora = str(dubit_lora(inp))
    scale = iclora.read_lora_reference_downscale_factor(lora)
    meta = media.get_videostream_metadata(str(inp.video))
    frames, fps = helpers.snap_frames_to_grid(meta.frames), float(meta.fps)
    req = replace(req, images=[replace(i, image=str(i.image)) for i in req.images])
    gen = torch.Generator(device=o.device).manual_seed(req.seed)
    noiser = require("ltx_core.components.noisers").GaussianNoiser(generator=gen)
    ctx = o.ctx[req.prompt]

    def reference_video(height, width):
        def extra(encoder):
            out = []
            iclora.append_ic_lora_reference_video_conditionings(
                out, [(str(inp.video), REFERENCE_STRENGTH)], height=height, width=width, num_frames=frames,
                video_encoder=encoder, dtype=o.dtype, device=o.device, reference_downscale_factor=scale,
                conditioning_attention_strength=1.0, conditioning_attention_mask=None, tiling_config=tiles)  # fmt: skip
            return out

        return extra

    def reference_audio(latent):
        tokens, positions = dubit.patchify_dubit_audio_reference_latent(
            latent, negative_positions=True, device=o.device
        )
        return cond.AudioConditionByReferenceLatent(tokens, positions, strength=1.0)

    h, w = req.height // 2, req.width // 2
    stage = o.stage(o.lora(lora, 1.0))
    conds = o.images(req, h, w, extra=reference_video(h, w))
    decoded = media.decode_audio_from_file(str(inp.video), o.device)
    ref = o.audio_conditioner(lambda enc: encode_audio(decoded, enc, None))
    sigmas = consts.DISTILLED_SIGMAS.to(device=o.device, dtype=torch.float32)
    v, a = stage(denoiser=o.D.SimpleDenoiser(*ctx), sigmas=sigmas, noiser=noiser, width=w, height=h, frames=frames,
                 fps=fps, video=o.spec(ctx[0], conditionings=conds),
                 audio=o.spec(ctx[1], conditionings=[reference_audio(ref)]))  # fmt: skip
    audio = a.latent.clone()
    up = o.upsampler(v.latent[:1])
    sigmas = consts.STAGE_2_DISTILLED_SIGMAS.to(device=o.device, dtype=torch.float32)
    conds = o.images(req, req.height, req.width, extra=reference_video(req.height, req.width))
    v, _ = stage(denoiser=o.D.SimpleDenoiser(*ctx), sigmas=sigmas, noiser=noiser, width=req.width,
                 height=req.height, frames=frames, fps=fps,
                 video=o.spec(ctx[0], conditionings=conds, noise_scale=sigmas[0].item(), initial_latent=up),
                 audio=o.spec(ctx[1], conditionings=[reference_audio(audio)], frozen=True, noise_scale=0.0,
                              initial_latent=audio))  # fmt: skip
    return o.decode(v.latent, audio, gen)


def dubit_parity(inp: Inputs, group: str = "pipeline dub-it") -> list[Row]:
    got = {k: v.detach().float().cpu() for k, v in run_ours(inp).items() if v is not None}
    ref = {k: v.detach().float().cpu() for k, v in run_official(inp).items() if v is not None}
    return compare_exact(group, got, ref)
