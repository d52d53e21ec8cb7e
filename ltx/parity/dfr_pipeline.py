"""DFR pipeline parity: `ltx.pipelines.dfr.dfr` against the same flow built from the official ltx-pipelines 1.2.0
blocks as DFRPipeline.__call__ runs them (canvas, half-size stage with keyframe slots, the x2 upsampler over the
video and the slots, the detailing stage with the half-size video as IC-LoRA reference, the trim, stage 1's audio
cut to the clip), on a built-in tiny checkpoint with the keyframe embedding, in float32 on the CPU: final latents,
frames, waveform.

The checkpoint is the tiny LTX-2.3 one stored in bf16, marked LTX-2.5 and given a random keyframe vector
(`use_keyframes_abs_pos_embedding`), so the slots' marker matters. Both sides read the same files and draw noise
from one generator seeded alike."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from ltx.parity.compare import Row, compare_exact
from ltx.parity.dfr import official_round_end
from ltx.parity.oracle import require
from ltx.parity.pipelines import Inputs, _f32, _mel_frontend, _Official
from ltx.pipelines import ImageCondition, Models, Request
from ltx.pipelines.dfr import dfr

DETAILING_SCALE = "2"


def write_keyframe_checkpoint(src: str | Path, dst: str | Path, seed: int = 5) -> Path:
    """A bf16 copy of the full tiny checkpoint `src`, marked LTX-2.5, with a random keyframe vector."""
    from safetensors.torch import save_file

    from ltx.checkpoint import Checkpoint
    from ltx.parity.pipeline_fixtures import write_bf16_copy

    tmp = write_bf16_copy(src, Path(dst).with_suffix(".tmp"), model_version="2.5.0")
    ckpt = Checkpoint(tmp)
    tensors = {k: ckpt.tensor(k).clone() for k in ckpt.tensors}
    config = json.loads(ckpt.metadata["config"])
    config["transformer"]["use_keyframes_abs_pos_embedding"] = True
    inner = tensors["model.diffusion_model.proj_out.weight"].shape[1]
    g = torch.Generator().manual_seed(seed)
    tensors["model.diffusion_model.keyframes_abs_pos_embedding"] = torch.randn(1, inner, generator=g).bfloat16()
    save_file(tensors, str(dst), metadata={**ckpt.metadata, "config": json.dumps(config)})
    del ckpt
    tmp.unlink()
    return Path(dst)


def dfr_inputs(folder: str | Path, name: str = "ltx-2.3-tiny") -> tuple[Inputs, Path]:
    """The files DFR reads (the keyframe checkpoint, upsampler, distilled LoRA, prompts, an image) in `folder`,
    and a detailing IC-LoRA whose metadata asks for a reference at half size."""
    from ltx.parity import pipeline_fixtures as fx
    from ltx.parity.fixtures import write_tiny_checkpoint, write_tiny_upsampler

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src = write_tiny_checkpoint(name, folder / f"{name}.safetensors")
    ckpt = write_keyframe_checkpoint(src, folder / f"{name}-keyframes-bf16.safetensors")
    unused = folder / "unused"
    inp = Inputs(
        checkpoint=ckpt,
        upsampler=write_tiny_upsampler("ltx-2-upsampler-x2-tiny", folder / "upsampler-x2-tiny.safetensors"),
        distilled_lora=fx.write_tiny_lora(ckpt, folder / "distilled-lora.safetensors", seed=1),
        ic_lora=unused,
        prompts=fx.write_prompt_file(ckpt, folder / f"{name}-prompts.safetensors", ["a prompt"], 0),
        image=fx.write_test_image(folder / "image.png"),
        video=unused,
        audio=unused,
    )
    detailing = fx.write_tiny_lora(ckpt, folder / "detailing-lora.safetensors", seed=3, every=4,
                                   metadata={"reference_downscale_factor": DETAILING_SCALE})  # fmt: skip
    return inp, detailing


def dfr_request(inp: Inputs) -> Request:
    """A small clip whose canvas pads it (81 -> 97 frames: 3 segments of 32), so that one temporal round cuts
    it into two tiles, the second starting at frame 64; an image in each (at 0, and at 72)."""
    images = [ImageCondition(inp.image, 0, 0.9), ImageCondition(inp.image, 72, 0.7)]
    return Request("a prompt", seed=7, height=64, width=64, frames=81, fps=24.0, images=images, progress=False)


def temporal_upsampler(inp: Inputs) -> Path:
    from ltx.parity.fixtures import write_tiny_upsampler

    path = inp.upsampler.with_name("upsampler-temporal-tiny.safetensors")
    return path if path.exists() else write_tiny_upsampler("ltx-2-upsampler-temporal-tiny", path)


def dfr_models(inp: Inputs, detailing: Path | None, dtype=torch.float32, device="cpu", temporal=None) -> Models:
    return Models(inp.checkpoint, prompts=inp.prompts, upsampler=inp.upsampler,
                  distilled_lora=(inp.distilled_lora, inp.lora_strength), temporal_upsampler=temporal,
                  detailing_lora=(detailing, 1.0) if detailing else None, device=device, dtype=dtype)  # fmt: skip


def run_ours(inp: Inputs, detailing: Path | None, dtype=torch.float32, device="cpu", rounds: int = 0) -> dict:
    temporal = temporal_upsampler(inp) if rounds else None
    req = dfr_request(inp)
    r = dfr(dfr_models(inp, detailing, dtype, device, temporal), req, rounds)
    return {"video_latent": r.video_latent, "audio_latent": r.audio_latent, "frames": r.video, "waveform": r.audio}


def run_official(inp: Inputs, detailing: Path | None, dtype=torch.float32, device="cpu", rounds: int = 0) -> dict:
    """The official flow of `dfr_request`; `rounds` > 0 with the tiny temporal upsampler."""
    o = _Official(inp, dtype, torch.device(device), inp.checkpoint)
    temporal = temporal_upsampler(inp) if rounds else None
    req = dfr_request(inp)
    with torch.no_grad(), _mel_frontend():
        return _official_dfr(o, inp, detailing, req, rounds, temporal)


def _official_dfr(o: _Official, inp: Inputs, detailing: Path | None, req: Request, rounds: int = 0,
                  temporal: Path | None = None) -> dict:  # fmt: skip
    """DFRPipeline.__call__ on the official blocks; `temporal`: the temporal upsampler file (rounds > 0)."""
    consts, cond = require("ltx_pipelines.utils.constants"), require("ltx_core.conditioning")
    layout, official = require("ltx_pipelines.dfr_layout"), require("ltx_pipelines.dfr_pipeline")
    req = replace(req, images=[replace(i, image=str(i.image)) for i in req.images])
    gen = torch.Generator(device=o.device).manual_seed(req.seed)
    noiser = require("ltx_core.components.noisers").GaussianNoiser(generator=gen)
    ctx = o.ctx[req.prompt]
    requested = req.frames
    frames, _, positions = layout.resolve_canvas(requested)
    distilled = o.lora(inp.distilled_lora, inp.lora_strength)
    stage = o.stage(distilled)
    stage_2 = o.stage(distilled, o.lora(detailing, 1.0)) if detailing else stage

    h, w = req.height // 2, req.width // 2
    conds = [*o.images(req, h, w), cond.VideoGeneratedKeyframeSlots(pixel_frame_indices=positions)]
    v, a = stage(denoiser=o.D.SimpleDenoiser(*ctx), sigmas=_f32(consts.DISTILLED_SIGMAS, o), noiser=noiser, width=w,
                 height=h, frames=frames, fps=req.fps, video=o.spec(ctx[0], conditionings=conds),
                 audio=o.spec(ctx[1]))  # fmt: skip
    half, audio = v.latent[:1].clone(), a.latent.clone()
    up_slots, up_video = o.upsampler(v.generated_keyframes), o.upsampler(half)

    sigmas = _f32(consts.STAGE_2_DISTILLED_SIGMAS, o)
    conds = [*o.images(req, req.height, req.width),
             cond.VideoGeneratedKeyframeSlots(pixel_frame_indices=positions, initial_keyframes=up_slots)]  # fmt: skip
    if detailing:
        scale = official._detailing_downscale_factor(str(detailing))
        conds.append(cond.VideoConditionByReferenceLatent(latent=half, downscale_factor=scale, strength=1.0))
    noised = dict(noise_scale=sigmas[0].item())
    v, _ = stage_2(denoiser=o.D.SimpleDenoiser(*ctx), sigmas=sigmas, noiser=noiser, width=req.width,
                   height=req.height, frames=frames, fps=req.fps,
                   video=o.spec(ctx[0], conditionings=conds, initial_latent=up_video, **noised),
                   audio=o.spec(ctx[1], initial_latent=a.latent, **noised))  # fmt: skip
    latent, fps, frames = v.latent, req.fps, frames
    if rounds:
        blocks = require("ltx_pipelines.utils.blocks")
        temporal_upsampler = blocks.VideoUpsampler(o.ckpt, str(temporal), o.dtype, o.device)
        latent = _official_rounds(o, req, ctx, stage, noiser, temporal_upsampler, latent, list(positions),
                                  v.generated_keyframes, frames, rounds)  # fmt: skip
    target = (requested - 1) * 2**rounds + 1
    latent, fps = latent[:, :, : (target - 1) // 8 + 1], req.fps * 2**rounds
    decoded = o.audio_decoder(audio)
    samples = min(decoded.waveform.shape[-1], round(target / fps * decoded.sampling_rate))
    return o.decode(latent, audio, gen, keep_audio=decoded.waveform[..., :samples])


def _official_rounds(o, req, ctx, stage, noiser, upsampler, latent, carry, keyframes, frames, rounds):
    """The official temporal rounds: x2 in time, tiles with their images, anchors and slots, stitched."""
    from functools import partial

    consts, cond = require("ltx_pipelines.utils.constants"), require("ltx_core.conditioning")
    layout, official = require("ltx_pipelines.dfr_layout"), require("ltx_pipelines.dfr_pipeline")
    steps, samplers = require("ltx_core.components.diffusion_steps"), require("ltx_pipelines.utils.samplers")
    fps, sigmas = req.fps, _f32(consts.DISTILLED_SIGMAS[4:], o)
    for r in range(1, rounds + 1):
        video = upsampler(latent[:1])
        frames, fps = 2 * (frames - 1) + 1, 2 * fps
        seams = [2 * p for p in carry]
        where = {s: k for k, s in enumerate(seams)}
        cond_fps = min(fps, official._MAX_CONDITIONING_FPS)
        tiles = layout.tile_ranges(seams, frames, 2**r, temporal_scale=8)
        outs, slot_frames, slot_parts = [], [], []
        for i, t in enumerate(tiles):
            local_frames = (t.latent_end_exclusive - t.latent_start - 1) * 8 + 1
            part = video[:, :, t.latent_start : t.latent_end_exclusive]
            images = req.images if t.pixel_start == 0 else [
                replace(im, frame=im.frame - t.pixel_start) for im in req.images
                if t.pixel_start <= im.frame <= t.pixel_end]  # fmt: skip
            conds = o.images(replace(req, images=images), req.height, req.width) if images else []
            anchors = list(t.anchor_kf_global)
            conds += official._keyframe_conditionings_from_latents(
                torch.cat([keyframes[:, :, where[a] : where[a] + 1] for a in anchors], dim=2),
                layout.remap_positions_to_local(anchors, t.pixel_start),
                strength=official._ANCHOR_KEYFRAME_STRENGTH,
            )
            local = layout.remap_positions_to_local(list(t.slot_kf_global), t.pixel_start)
            conds.append(cond.VideoGeneratedKeyframeSlots(local, official._slot_initials_from_video(part, local, 8)))
            loop = partial(
                samplers.euler_ancestral_denoising_loop, noise_seed=req.seed + 1000 * r + i, model_dtype=o.dtype
            )
            state, _ = stage(denoiser=o.D.SimpleDenoiser(*ctx), sigmas=sigmas, noiser=noiser, width=req.width,
                             height=req.height, frames=local_frames, fps=cond_fps,
                             video=o.spec(ctx[0], conditionings=conds, noise_scale=sigmas[0].item(),
                                          initial_latent=part), audio=None,
                             stepper=steps.EulerAncestralDiffusionStep(eta=official._TEMPORAL_ANCESTRAL_ETA),
                             loop=loop)  # fmt: skip
            outs.append(state.latent[:1])
            slot_frames += list(t.slot_kf_global)
            slot_parts.append(state.generated_keyframes)
        latent, carry, keyframes = official_round_end(outs, tiles, slot_frames, slot_parts, seams, keyframes)
    return latent


def dfr_pipeline_parity(inp: Inputs, detailing: Path | None, group: str = "pipeline dfr", rounds: int = 0) -> list[Row]:
    got = {k: v.detach().float().cpu() for k, v in run_ours(inp, detailing, rounds=rounds).items() if v is not None}
    ref = {k: v.detach().float().cpu() for k, v in run_official(inp, detailing, rounds=rounds).items() if v is not None}
    return compare_exact(group, got, ref)
