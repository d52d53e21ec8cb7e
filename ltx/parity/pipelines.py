"""Pipeline parity: each of our pipelines against the same flow built from the official ltx-pipelines helper
functions (denoise_audio_video, euler/res_2s loops, guider denoising functions, image conditionings,
upsample_video, decode_video/decode_audio) and ltx-core models from its ModelLedger, on the built-in tiny
checkpoint in float32 on the CPU: the final video and audio latents, the decoded frames and the waveform.

Both sides read the same prompt-embeddings file (text encoding has its own comparison), the same image,
video and audio files, and draw their noise from one generator seeded alike. Where torchaudio cannot
load, ltx-core's mel front-end is stood in for by ours (equal to it bitwise, `ltx parity --parts mel`).
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ltx.parity.compare import Row, compare_exact
from ltx.parity.oracle import ensure_torchaudio, require
from ltx.pipelines import ImageCondition, Models, Request
from ltx.pipelines import generate as ours
from ltx.sampling import Guidance
from ltx.text.encoder import load_prompt_embeddings

PROMPTS = ("a prompt", "a negative prompt")
KINDS = ("one-stage", "two-stage", "two-stage-hq", "distilled", "keyframes", "ic-lora", "a2v", "retake")


@dataclass
class Inputs:
    checkpoint: Path  # bf16-stored tiny checkpoint
    upsampler: Path
    distilled_lora: Path
    ic_lora: Path
    prompts: Path
    image: Path
    video: Path
    audio: Path
    lora_strength: float = 0.8


def request(kind: str) -> Request:
    """Small clips and few steps; guidance on the tiny model's own blocks (its 3 blocks have no block 28)."""
    vg = Guidance(cfg=3.0, stg=1.0, stg_blocks=(1,), rescale=0.7, modality=3.0)
    ag = Guidance(cfg=7.0, stg=1.0, stg_blocks=(1,), rescale=0.7, modality=3.0, skip_step=1)
    images = [ImageCondition("", 0, 0.9), ImageCondition("", 8, 0.7)]
    size = (64, 96) if kind in ("one-stage",) else (128, 128)
    return Request(*PROMPTS, seed=7, height=size[0], width=size[1], frames=9, fps=24.0,
                   steps=3, video_guidance=vg, audio_guidance=ag, images=images, progress=False)  # fmt: skip


def _with_image(req: Request, image: Path) -> Request:
    return replace(req, images=[replace(i, image=image) for i in req.images])


# -- ours -----------------------------------------------------------------------------------------------
def run_ours(kind: str, inp: Inputs, dtype=torch.float32, req: Request | None = None, device="cpu") -> dict:
    req = _with_image(req or request(kind), inp.image)
    loras = [(inp.ic_lora, 1.0)] if kind == "ic-lora" else []
    distilled = (
        (inp.distilled_lora, inp.lora_strength) if kind in ("two-stage", "two-stage-hq", "keyframes", "a2v") else None
    )
    models = Models(inp.checkpoint, prompts=inp.prompts, upsampler=inp.upsampler, loras=loras, distilled_lora=distilled,
                    device=device, dtype=dtype)  # fmt: skip
    if kind == "one-stage":
        r = ours.one_stage(models, req)
    elif kind == "two-stage":
        r = ours.two_stage(models, req)
    elif kind == "two-stage-hq":
        r = ours.two_stage(models, req, hq=True, lora_strengths=(0.3, inp.lora_strength))
    elif kind == "distilled":
        r = ours.distilled(models, req)
    elif kind == "keyframes":
        r = ours.keyframes(models, req)
    elif kind == "ic-lora":
        r = ours.ic_lora(models, replace(req, images=req.images[:1]), inp.video, attention_strength=0.6)
    elif kind == "a2v":
        r = ours.audio_to_video(models, req, inp.audio)
    elif kind == "retake":
        r = ours.retake(models, replace(req, images=[]), inp.video, 0.1, 0.3)
    else:
        raise ValueError(f"unknown pipeline {kind!r}; choose from {KINDS}")
    return {"video_latent": r.video_latent, "audio_latent": r.audio_latent, "frames": r.video, "waveform": r.audio}


# -- official -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _mel_frontend():
    """ltx-core's audio encoding builds torchaudio's front-end; without torchaudio, ours stands in."""
    if ensure_torchaudio():
        yield
        return
    from ltx.audio.mel import waveform_to_mel

    module = require("ltx_core.model.audio_vae.audio_vae")

    class Processor(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()

        def waveform_to_mel(self, audio):
            return waveform_to_mel(audio.waveform, audio.sampling_rate)

    saved, module.AudioProcessor = module.AudioProcessor, Processor
    try:
        yield
    finally:
        module.AudioProcessor = saved


def guider_params(g: Guidance):
    p = require("ltx_core.components.guiders").MultiModalGuiderParams
    return p(cfg_scale=g.cfg, stg_scale=g.stg, stg_blocks=list(g.stg_blocks), rescale_scale=g.rescale,
             modality_scale=g.modality, skip_step=g.skip_step)  # fmt: skip


class _Official:
    """The official pieces, imported once."""

    def __init__(self, inp: Inputs, dtype: torch.dtype, loras=(), device: torch.device | None = None):
        self.H = require("ltx_pipelines.utils.helpers")
        self.S = require("ltx_pipelines.utils.samplers")
        self.G = require("ltx_core.components.guiders")
        self.types = require("ltx_core.types")
        loader = require("ltx_core.loader")
        ledger_cls = require("ltx_pipelines.utils.model_ledger").ModelLedger
        self.lora = lambda path, s: loader.LoraPathStrengthAndSDOps(str(path), s, loader.LTXV_LORA_COMFY_RENAMING_MAP)
        self.dtype, self.device = dtype, device or torch.device("cpu")
        self.base = ledger_cls(dtype=dtype, device=self.device, checkpoint_path=str(inp.checkpoint),
                               spatial_upsampler_path=str(inp.upsampler))  # fmt: skip
        self.ledger = self.base.with_loras(tuple(self.lora(p, s) for p, s in loras))
        self.stage2 = self.ledger.with_additional_loras((self.lora(inp.distilled_lora, inp.lora_strength),))
        self.components = require("ltx_pipelines.utils.types").PipelineComponents(dtype=dtype, device=self.device)
        emb, prompts, _ = load_prompt_embeddings(inp.prompts, dtype=dtype, device=self.device)
        self.ctx = {p: (emb.video[i : i + 1], emb.audio[i : i + 1]) for i, p in enumerate(prompts)}

    def transformer(self, ledger):
        """ledger.transformer(), cast to the run's dtype: with LoRAs, ltx-core's builder casts only the layers
        a LoRA touches and leaves the rest in the file's dtype (a float32 run then fails on bf16 weights)."""
        return ledger.transformer().to(self.dtype)

    def shape(self, req: Request, half: bool):
        d = 2 if half else 1
        return self.types.VideoPixelShape(batch=1, frames=req.frames, width=req.width // d, height=req.height // d,
                                          fps=req.fps)  # fmt: skip

    def images(self, req: Request, shape, encoder, keyframes=False):
        args = require("ltx_pipelines.utils.args")
        images = [args.ImageConditioningInput(str(i.image), i.frame, i.strength, i.crf) for i in req.images]
        fn = self.H.image_conditionings_by_adding_guiding_latent if keyframes else self.H.combined_image_conditionings
        return fn(images=images, height=shape.height, width=shape.width, video_encoder=encoder, dtype=self.dtype,
                  device=self.device)  # fmt: skip

    def guided(self, transformer, req, ctx_p, ctx_n, audio_guidance=True):
        return self.H.multi_modal_guider_factory_denoising_func(
            video_guider_factory=self.G.create_multimodal_guider_factory(guider_params(req.video_guidance), ctx_n[0]),
            audio_guider_factory=self.G.create_multimodal_guider_factory(guider_params(req.audio_guidance), ctx_n[1])
            if audio_guidance
            else self.G.create_multimodal_guider_factory(self.G.MultiModalGuiderParams()),
            v_context=ctx_p[0], a_context=ctx_p[1], transformer=transformer)  # fmt: skip

    def loop(self, denoise_fn, sampler="euler"):
        if sampler == "res2s":
            # the HQ pipeline leaves model_dtype at bf16, its run dtype; a float32 run passes float32
            return lambda sig, v, a, st: self.S.res2s_audio_video_denoising_loop(
                sig, v, a, st, denoise_fn, model_dtype=self.dtype
            )
        return lambda sig, v, a, st: self.S.euler_denoising_loop(sig, v, a, st, denoise_fn)

    def decode(self, video_latent, audio_latent, gen, ledger, keep_audio=None):
        vae = require("ltx_core.model.video_vae")
        audio_vae = require("ltx_core.model.audio_vae")
        frames = torch.cat(list(vae.decode_video(video_latent, ledger.video_decoder(), None, gen)))
        if keep_audio is not None:
            waveform = keep_audio
        else:
            waveform = audio_vae.decode_audio(audio_latent, ledger.audio_decoder(), ledger.vocoder()).waveform
        return {"video_latent": video_latent, "audio_latent": audio_latent, "frames": frames, "waveform": waveform}


def run_official(kind: str, inp: Inputs, dtype=torch.float32, req: Request | None = None, device="cpu") -> dict:
    req = _with_image(req or request(kind), inp.image)
    o = _Official(inp, dtype, [(inp.ic_lora, 1.0)] if kind == "ic-lora" else [], torch.device(device))
    with torch.no_grad(), _mel_frontend():
        if kind == "retake":
            return _official_retake(o, inp, replace(req, images=[]))
        return _official_two_stage(o, kind, inp, req)


def _official_two_stage(o: _Official, kind: str, inp: Inputs, req: Request) -> dict:
    H, types = o.H, o.types
    noisers = require("ltx_core.components.noisers")
    steps = require("ltx_core.components.diffusion_steps")
    sched = require("ltx_core.components.schedulers")
    consts = require("ltx_pipelines.utils.constants")
    gen = torch.Generator(device=o.device).manual_seed(req.seed)
    noiser = noisers.GaussianNoiser(generator=gen)
    hq = kind == "two-stage-hq"
    stepper = steps.Res2sDiffusionStep() if hq else steps.EulerDiffusionStep()
    ctx_p, ctx_n = o.ctx[req.prompt], o.ctx.get(req.negative_prompt)
    one = kind == "one-stage"
    s1 = o.shape(req, half=not one)
    ledger1 = o.ledger
    if hq:  # the HQ pipeline fuses the distilled LoRA in stage 1 too, at its own strength
        ledger1 = o.ledger.with_additional_loras((o.lora(inp.distilled_lora, 0.3),))
    encoder = ledger1.video_encoder()
    if kind == "ic-lora":
        req = replace(req, images=req.images[:1])
    conds = o.images(req, s1, encoder, keyframes=kind == "keyframes")
    audio_init, denoise_only_video = None, False
    if kind == "ic-lora":
        cond = require("ltx_core.conditioning")
        media = require("ltx_pipelines.utils.media_io")
        pixels = media.load_video_conditioning(str(inp.video), s1.height, s1.width, req.frames, o.dtype, o.device)
        reference = cond.VideoConditionByReferenceLatent(latent=encoder(pixels), downscale_factor=1, strength=1.0)
        conds.append(cond.ConditioningItemAttentionStrengthWrapper(reference, attention_mask=0.6))
    if kind == "a2v":
        media = require("ltx_pipelines.utils.media_io")
        audio_vae = require("ltx_core.model.audio_vae")
        decoded = media.decode_audio_from_file(str(inp.audio), o.device, 0.0, req.frames / req.fps)
        audio_init = audio_vae.encode_audio(decoded, o.ledger.audio_encoder())
        frames = types.AudioLatentShape.from_duration(batch=1, duration=req.frames / req.fps).frames
        audio_init, denoise_only_video = audio_init[:, :, :frames], True
    transformer = o.transformer(ledger1)
    if kind in ("distilled", "ic-lora"):
        sigmas = torch.tensor(consts.DISTILLED_SIGMA_VALUES).to(o.device)
        denoise_fn = H.simple_denoising_func(ctx_p[0], ctx_p[1], transformer)
    else:
        latent = None
        if hq:
            latent = torch.empty(types.VideoLatentShape.from_pixel_shape(s1).to_torch_shape())
        sigmas = sched.LTX2Scheduler().execute(steps=req.steps, latent=latent).to(torch.float32).to(o.device)
        denoise_fn = o.guided(transformer, req, ctx_p, ctx_n, audio_guidance=kind != "a2v")
    run = H.denoise_video_only if denoise_only_video else H.denoise_audio_video
    kwargs = dict(initial_audio_latent=audio_init) if denoise_only_video else {}
    out = run(output_shape=s1, conditionings=conds, noiser=noiser, sigmas=sigmas, stepper=stepper,
              denoising_loop_fn=o.loop(denoise_fn, "res2s" if hq else "euler"), components=o.components,
              dtype=o.dtype, device=o.device, **kwargs)  # fmt: skip
    video_state, audio_state = (out, None) if denoise_only_video else out
    del transformer, denoise_fn, encoder  # as the official pipelines free them before the next model loads
    _free()
    if one:
        return o.decode(video_state.latent, audio_state.latent, gen, o.ledger)
    upsampler = require("ltx_core.model.upsampler")
    stage2 = {"distilled": o.ledger, "ic-lora": o.base}.get(kind, o.stage2)
    encoder = o.ledger.video_encoder()
    up = upsampler.upsample_video(latent=video_state.latent[:1], video_encoder=encoder,
                                  upsampler=stage2.spatial_upsampler())  # fmt: skip
    s2 = o.shape(req, half=False)
    conds = o.images(req, s2, encoder, keyframes=kind == "keyframes")
    del encoder
    _free()
    transformer = o.transformer(stage2)
    sig2 = torch.Tensor(consts.STAGE_2_DISTILLED_SIGMA_VALUES).to(o.device)
    denoise_fn = H.simple_denoising_func(ctx_p[0], ctx_p[1], transformer)
    a_init = audio_init if denoise_only_video else audio_state.latent
    out = run(output_shape=s2, conditionings=conds, noiser=noiser, sigmas=sig2, stepper=stepper,
              denoising_loop_fn=o.loop(denoise_fn, "res2s" if hq else "euler"), components=o.components,
              dtype=o.dtype, device=o.device, noise_scale=sig2[0], initial_video_latent=up,
              initial_audio_latent=a_init)  # fmt: skip
    del transformer, denoise_fn
    _free()
    if denoise_only_video:
        return o.decode(out.latent, audio_init, gen, stage2, keep_audio=decoded.waveform.squeeze(0))
    return o.decode(out[0].latent, out[1].latent, gen, stage2)


def _official_retake(o: _Official, inp: Inputs, req: Request) -> dict:
    retake = require("ltx_pipelines.retake")
    media = require("ltx_pipelines.utils.media_io")
    noisers = require("ltx_core.components.noisers")
    steps = require("ltx_core.components.diffusion_steps")
    sched = require("ltx_core.components.schedulers")
    gen = torch.Generator(device=o.device).manual_seed(req.seed)
    noiser = noisers.GaussianNoiser(generator=gen)
    fps, frames, width, height = media.get_videostream_metadata(str(inp.video))
    shape = o.types.VideoPixelShape(batch=1, frames=frames, width=width, height=height, fps=fps)
    video_latent = retake._encode_video_for_retake(o.ledger.video_encoder(), str(inp.video), shape, o.dtype, o.device)
    vconds = [retake.TemporalRegionMask(start_time=0.1, end_time=0.3, fps=fps)]
    audio_in = media.decode_audio_from_file(str(inp.video), o.device)
    audio_latent = retake._encode_audio_for_retake(o.ledger.audio_encoder(), audio_in.waveform.squeeze(0),
                                                   audio_in.sampling_rate, shape, o.dtype)  # fmt: skip
    aconds = [retake.TemporalRegionMask(start_time=0.1, end_time=0.3, fps=fps)]
    ctx_p, ctx_n = o.ctx[req.prompt], o.ctx[req.negative_prompt]
    transformer = o.transformer(o.ledger)
    sigmas = sched.LTX2Scheduler().execute(steps=req.steps).to(torch.float32).to(o.device)
    denoise = o.H.multi_modal_guider_denoising_func(
        o.G.MultiModalGuider(params=guider_params(req.video_guidance), negative_context=ctx_n[0]),
        o.G.MultiModalGuider(params=guider_params(req.audio_guidance), negative_context=ctx_n[1]),
        v_context=ctx_p[0], a_context=ctx_p[1], transformer=transformer)  # fmt: skip
    v, vtools = o.H.noise_video_state(output_shape=shape, noiser=noiser, conditionings=vconds,
                                      components=o.components, dtype=o.dtype, device=o.device,
                                      initial_latent=video_latent)  # fmt: skip
    a, atools = o.H.noise_audio_state(output_shape=shape, noiser=noiser, conditionings=aconds,
                                      components=o.components, dtype=o.dtype, device=o.device,
                                      initial_latent=audio_latent)  # fmt: skip
    v, a = o.S.euler_denoising_loop(sigmas, v, a, steps.EulerDiffusionStep(), denoise)
    v = vtools.unpatchify(vtools.clear_conditioning(v))
    a = atools.unpatchify(atools.clear_conditioning(a))
    return o.decode(v.latent, a.latent, gen, o.ledger)


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def pipeline_parity(inp: Inputs, kinds=KINDS, group: str | None = None) -> list[Row]:
    """Final latents, frames and waveform of each pipeline in `kinds`, ours vs the official flow."""
    rows = []
    for kind in kinds:
        got = {k: v for k, v in run_ours(kind, inp).items() if v is not None}
        ref = {k: v for k, v in run_official(kind, inp).items() if v is not None}
        rows += compare_exact(group or f"pipeline {kind}", _cpu(got), _cpu(ref))
    return rows


def _cpu(d: dict) -> dict:
    return {k: v.detach().float().cpu() for k, v in d.items()}


def builtin_inputs(folder: str | Path, name: str) -> Inputs:
    """Every input of the pipeline comparisons for the built-in tiny checkpoint `name`, written to `folder`."""
    from ltx.parity import pipeline_fixtures as fx
    from ltx.parity.fixtures import write_tiny_checkpoint, write_tiny_upsampler

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src = write_tiny_checkpoint(name, folder / f"{name}.safetensors")
    ckpt = fx.write_bf16_copy(src, folder / f"{name}-bf16.safetensors")
    return Inputs(
        checkpoint=ckpt,
        upsampler=write_tiny_upsampler("ltx-2-upsampler-x2-tiny", folder / "upsampler-x2-tiny.safetensors"),
        distilled_lora=fx.write_tiny_lora(ckpt, folder / f"{name}-distilled-lora.safetensors", seed=1),
        ic_lora=fx.write_tiny_lora(ckpt, folder / f"{name}-ic-lora.safetensors", seed=2, every=5),
        prompts=fx.write_prompt_file(
            ckpt, folder / f"{name}-prompts.safetensors", ["a prompt", "a negative prompt"], 0
        ),
        image=fx.write_test_image(folder / "image.png"),
        video=fx.write_test_video(folder / "video.mp4", 9, 64, 96, 24.0),
        audio=fx.write_test_audio(folder / "audio.wav", 1.0),
    )
