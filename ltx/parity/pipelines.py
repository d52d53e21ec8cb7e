"""Pipeline parity: each registered pipeline against the same flow built from the official ltx-pipelines 1.2.0
blocks (DiffusionStage, the denoisers, ImageConditioner, VideoUpsampler, VideoDecoder, AudioDecoder) as each
official pipeline class's __call__ runs them, on the built-in tiny checkpoint in float32 on the CPU: the final
video and audio latents, the decoded frames and the waveform. The distilled pipeline runs a second time on a
copy of the checkpoint marked LTX-2.5, whose first stage samples with ancestral Euler.

Both sides read the same prompt-embeddings file (text encoding has its own comparison), the same image,
video and audio files, and draw their noise from one generator seeded alike. Where torchaudio cannot
load, ltx-core's mel front-end is stood in for by ours (equal to it bitwise, `ltx parity --parts mel`).
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch

from ltx.parity.compare import Row, compare_exact
from ltx.parity.oracle import ensure_torchaudio, require
from ltx.pipelines import PIPELINES, ImageCondition, Models, Request, run_pipeline
from ltx.sampling import Guidance
from ltx.text.encoder import load_prompt_embeddings

PROMPTS = ("a prompt", "a negative prompt")
# every registered pipeline, and the distilled one on the checkpoint marked LTX-2.5 (ancestral stage 1); Dub-It
# and HDR take their own inputs (an IC-LoRA and a clip), DFR a keyframe-embedding checkpoint: they have their own
# comparisons (dubit_pipeline, hdr_pipeline, dfr_pipeline)
OWN_PARITY = ("dub-it", "hdr", "dfr")
KINDS = (*(k for k in PIPELINES if k not in OWN_PARITY), "distilled-2.5")
WITH_DISTILLED_LORA = ("two-stage", "two-stage-hq", "keyframes", "a2v")


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
    checkpoint_2_5: Path | None = None  # the same weights, marked model_version 2.5.0


def request(kind: str) -> Request:
    """Small clips and few steps; guidance on the tiny model's own blocks (its 3 blocks have no block 28)."""
    vg = Guidance(cfg=3.0, stg=1.0, stg_blocks=(1,), rescale=0.7, modality=3.0)
    ag = Guidance(cfg=7.0, stg=1.0, stg_blocks=(1,), rescale=0.7, modality=3.0, skip_step=1)
    images = [ImageCondition("", 0, 0.9), ImageCondition("", 8, 0.7)]
    size = (64, 96) if kind in ("one-stage",) else (128, 128)
    return Request(*PROMPTS, seed=7, height=size[0], width=size[1], frames=9, fps=24.0,
                   steps=3, video_guidance=vg, audio_guidance=ag, images=images, progress=False)  # fmt: skip


def pipeline_inputs(kind: str, inp: Inputs) -> dict:
    """The inputs each pipeline is compared with, besides the request."""
    return {
        "two-stage-hq": dict(stage1_lora=0.3),
        "ic-lora": dict(reference=inp.video, attention_strength=0.6),
        "a2v": dict(audio=inp.audio),
        "retake": dict(video=inp.video, start=0.1, end=0.3),
    }.get(kind, {})


def _with_image(req: Request, image: Path) -> Request:
    return replace(req, images=[replace(i, image=image) for i in req.images])


# -- ours -----------------------------------------------------------------------------------------------
def kinds_for(name: str) -> tuple[str, ...]:
    """The comparisons a built-in tiny checkpoint takes: every kind, but no text-to-audio on the 2.0 layout (the
    official audio-only loader leaves that layout's audio caption projection unloaded)."""
    return tuple(k for k in KINDS if not (k == "t2a" and name.startswith("ltx-2.0")))


def _resolve(kind: str, inp: Inputs) -> tuple[str, Path]:
    """(registered pipeline, checkpoint) of a parity kind."""
    if kind == "distilled-2.5":
        if inp.checkpoint_2_5 is None:
            raise ValueError("the distilled-2.5 comparison needs Inputs.checkpoint_2_5")
        return "distilled", inp.checkpoint_2_5
    if kind not in PIPELINES:
        raise ValueError(f"unknown pipeline {kind!r}; choose from {KINDS}")
    return kind, inp.checkpoint


def run_ours(
    kind: str, inp: Inputs, dtype=torch.float32, req: Request | None = None, device="cpu", accelerate: bool = False
) -> dict:
    kind, checkpoint = _resolve(kind, inp)
    req = _with_image(req or request(kind), inp.image)
    if kind == "ic-lora":
        req = replace(req, images=req.images[:1])
    loras = [(inp.ic_lora, 1.0)] if kind == "ic-lora" else []
    distilled = (inp.distilled_lora, inp.lora_strength) if kind in WITH_DISTILLED_LORA else None
    models = Models(checkpoint, prompts=inp.prompts, upsampler=inp.upsampler, loras=loras,
                    distilled_lora=distilled, device=device, dtype=dtype, accelerate=accelerate)  # fmt: skip
    r = run_pipeline(kind, models, req, **pipeline_inputs(kind, inp))
    out = {"video_latent": r.video_latent, "audio_latent": r.audio_latent, "frames": r.video, "waveform": r.audio}
    return {k: v for k, v in out.items() if v is not None}


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


def _cast_stage():
    """ltx-pipelines' DiffusionStage, with its transformer cast to the run's dtype after the build: its builder
    keeps the file's dtype (bf16 here, LoRAs fused into it), and a float32 run needs float32 weights."""
    blocks = require("ltx_pipelines.utils.blocks")
    x0_model = require("ltx_core.model.transformer").X0Model

    class CastStage(blocks.DiffusionStage):
        def _build_transformer(self, *, device=None, **kwargs):
            target = device or self._device
            model = self._prepared_builder().build(device=target, **kwargs).to(self._dtype)
            return x0_model(model).to(target).eval()

    return CastStage


class _Official:
    """The official pipeline blocks (ltx-pipelines 1.2.0) for one run, on the same files as ours."""

    def __init__(self, inp: Inputs, dtype: torch.dtype, device: torch.device, checkpoint: Path, compilation=None):
        blocks = require("ltx_pipelines.utils.blocks")
        self.compilation = compilation
        loader = require("ltx_core.loader")
        self.H = require("ltx_pipelines.utils.helpers")
        self.S = require("ltx_pipelines.utils.samplers")
        self.D = require("ltx_pipelines.utils.denoisers")
        self.G = require("ltx_core.components.guiders")
        self.types = require("ltx_pipelines.utils.types")
        self.dtype, self.device, self.inp = dtype, device, inp
        self.ckpt = str(checkpoint)
        self.lora = lambda path, s: loader.LoraPathStrengthAndSDOps(str(path), s, loader.LTXV_LORA_COMFY_RENAMING_MAP)
        self.image_conditioner = blocks.ImageConditioner(self.ckpt, dtype, device)
        self.audio_conditioner = blocks.AudioConditioner(self.ckpt, dtype, device)
        self.upsampler = blocks.VideoUpsampler(self.ckpt, str(inp.upsampler), dtype, device)
        # memory_efficient (the default) decodes channels-last, which rounds differently in float32
        self.video_decoder = blocks.VideoDecoder(self.ckpt, dtype, device, memory_efficient=False)
        self.audio_decoder = blocks.AudioDecoder(self.ckpt, dtype, device)
        emb, prompts, _ = load_prompt_embeddings(inp.prompts, dtype=dtype, device=device)
        self.ctx = {p: (emb.video[i : i + 1], emb.audio[i : i + 1]) for i, p in enumerate(prompts)}

    def stage(self, *loras, **kwargs):
        if self.compilation is not None:
            kwargs["compilation_config"] = self.compilation
        return _cast_stage().from_checkpoint(self.ckpt, self.dtype, self.device, loras=tuple(loras), **kwargs)

    def images(self, req: Request, height: int, width: int, keyframes: bool = False, extra=None):
        args = require("ltx_pipelines.utils.args")
        images = [args.ImageConditioningInput(str(i.image), i.frame, i.strength, i.crf) for i in req.images]
        images = self.image_conditioner.resolve_crf(images)
        fn = self.H.image_conditionings_by_adding_guiding_latent if keyframes else self.H.combined_image_conditionings

        def conditionings(encoder):
            out = fn(images=images, height=height, width=width, video_encoder=encoder, dtype=self.dtype,
                     device=self.device)  # fmt: skip
            return out + (extra(encoder) if extra else [])

        return self.image_conditioner(conditionings)

    def guided(self, req: Request, ctx_p, ctx_n, audio_guidance: bool = True):
        if not audio_guidance:  # audio-to-video: static guiders, the audio one off
            video = self.G.MultiModalGuider(guider_params(req.video_guidance), ctx_n[0])
            audio = self.G.MultiModalGuider(self.G.MultiModalGuiderParams())
            return self.D.GuidedDenoiser(ctx_p[0], ctx_p[1], video, audio)
        factory = self.G.create_multimodal_guider_factory
        return self.D.FactoryGuidedDenoiser(ctx_p[0], ctx_p[1], factory(guider_params(req.video_guidance), ctx_n[0]),
                                            factory(guider_params(req.audio_guidance), ctx_n[1]))  # fmt: skip

    def spec(self, context, **kwargs):
        return self.types.ModalitySpec(context=context, **kwargs)

    def decode(self, video_latent, audio_latent, gen, keep_audio=None) -> dict:
        # the decoder yields [0, 1] floats; our pipelines return them as uint8 (x 255, truncated)
        frames = (torch.cat(list(self.video_decoder(video_latent, None, gen))) * 255.0).to(torch.uint8)
        waveform = keep_audio if keep_audio is not None else self.audio_decoder(audio_latent).waveform
        return {"video_latent": video_latent, "audio_latent": audio_latent, "frames": frames, "waveform": waveform}


def run_official(
    kind: str, inp: Inputs, dtype=torch.float32, req: Request | None = None, device="cpu", compilation=None
) -> dict:
    """The official flow of pipeline `kind`, as its ltx-pipelines 1.2.0 class's __call__ runs it; `compilation`: its
    transformer compiled as its `--compile` does (a ltx-core CompilationConfig)."""
    kind, checkpoint = _resolve(kind, inp)
    req = _with_image(req or request(kind), inp.image)
    o = _Official(inp, dtype, torch.device(device), checkpoint, compilation)
    with torch.no_grad(), _mel_frontend():
        if kind == "retake":
            return _official_retake(o, replace(req, images=[]))
        if kind == "one-stage":
            return _official_one_stage(o, req)
        if kind == "t2a":
            return _official_t2a(o, req)
        return _official_two_stage(o, kind, replace(req, images=req.images[:1]) if kind == "ic-lora" else req)


def _official_one_stage(o: _Official, req: Request) -> dict:
    gen = torch.Generator(device=o.device).manual_seed(req.seed)
    noiser = require("ltx_core.components.noisers").GaussianNoiser(generator=gen)
    ctx_p, ctx_n = o.ctx[req.prompt], o.ctx[req.negative_prompt]
    conds = o.images(req, req.height, req.width)
    sigmas = require("ltx_core.components.schedulers").LTX2Scheduler().execute(steps=req.steps)
    v, a = o.stage()(denoiser=o.guided(req, ctx_p, ctx_n), sigmas=_f32(sigmas, o), noiser=noiser,
                     width=req.width, height=req.height, frames=req.frames, fps=req.fps,
                     video=o.spec(ctx_p[0], conditionings=conds), audio=o.spec(ctx_p[1]))  # fmt: skip
    return o.decode(v.latent, a.latent, gen)


def _official_t2a(o: _Official, req: Request) -> dict:
    """T2AOneStagePipeline: the audio-only transformer, guidance on the audio only."""
    tmod = require("ltx_core.model.transformer")
    gen = torch.Generator(device=o.device).manual_seed(req.seed)
    noiser = require("ltx_core.components.noisers").GaussianNoiser(generator=gen)
    ctx_p, ctx_n = o.ctx[req.prompt], o.ctx[req.negative_prompt]
    sigmas = require("ltx_core.components.schedulers").LTX2Scheduler().execute(steps=req.steps)
    audio = o.G.create_multimodal_guider_factory(guider_params(req.audio_guidance), ctx_n[1])
    stage = o.stage(model_configurator=tmod.LTXAudioOnlyModelConfigurator,
                    model_sd_ops=tmod.LTXV_AUDIO_ONLY_MODEL_COMFY_RENAMING_MAP)  # fmt: skip
    _, a = stage(denoiser=o.D.FactoryGuidedDenoiser(None, ctx_p[1], None, audio), sigmas=_f32(sigmas, o),
                 noiser=noiser, width=64, height=64, frames=req.frames, fps=req.fps, video=None,
                 audio=o.spec(ctx_p[1]))  # fmt: skip
    return {"audio_latent": a.latent, "waveform": o.audio_decoder(a.latent).waveform}


def _official_two_stage(o: _Official, kind: str, req: Request) -> dict:
    """two-stage(-hq), keyframes, distilled, ic-lora and a2v: their stage 1, the x2 upsampler, their stage 2."""
    steps = require("ltx_core.components.diffusion_steps")
    consts = require("ltx_pipelines.utils.constants")
    inp, types = o.inp, require("ltx_core.types")
    gen = torch.Generator(device=o.device).manual_seed(req.seed)
    noiser = require("ltx_core.components.noisers").GaussianNoiser(generator=gen)
    ctx_p, ctx_n = o.ctx[req.prompt], o.ctx.get(req.negative_prompt)
    h, w = req.height // 2, req.width // 2
    distilled = o.lora(inp.distilled_lora, inp.lora_strength)
    size = dict(width=w, height=h, frames=req.frames, fps=req.fps)
    keyframes, hq = kind == "keyframes", kind == "two-stage-hq"
    extra = None
    if kind == "ic-lora":
        iclora = require("ltx_pipelines.iclora_utils")

        def extra(encoder):
            out = []
            iclora.append_ic_lora_reference_video_conditionings(
                out, [(str(inp.video), 1.0)], height=h, width=w, num_frames=req.frames, video_encoder=encoder,
                dtype=o.dtype, device=o.device,
                reference_downscale_factor=iclora.read_lora_reference_downscale_factor(str(inp.ic_lora)),
                reference_temporal_scale_factor=iclora.read_lora_reference_temporal_scale_factor(str(inp.ic_lora)),
                conditioning_attention_strength=0.6, conditioning_attention_mask=None)  # fmt: skip
            return out

    audio_kw, stage1_kw = {}, {}
    if kind == "a2v":
        media = require("ltx_pipelines.utils.media_io")
        audio_vae = require("ltx_core.model.audio_vae")
        decoded = media.decode_audio_from_file(str(inp.audio), o.device, 0.0, req.frames / req.fps)
        latent = o.audio_conditioner(lambda enc: audio_vae.encode_audio(decoded, enc, None))
        frames = types.AudioLatentShape.from_duration(batch=1, duration=req.frames / req.fps).frames
        audio_kw = dict(frozen=True, noise_scale=0.0, initial_latent=latent[:, :, :frames])
    conds = o.images(req, h, w, keyframes, extra)
    if kind in ("distilled", "ic-lora"):
        stage1 = o.stage(*([o.lora(inp.ic_lora, 1.0)] if kind == "ic-lora" else []))
        sigmas, denoiser = consts.DISTILLED_SIGMAS, o.D.SimpleDenoiser(ctx_p[0], ctx_p[1])
        if kind == "distilled" and require("ltx_pipelines.distilled").should_use_ancestral_sampler(o.ckpt):
            loop = o.S.euler_ancestral_denoising_loop
            stage1_kw = dict(stepper=steps.EulerAncestralDiffusionStep(eta=1.0, s_noise=1.0),
                             loop=partial(loop, noise_seed=req.seed + 10000, model_dtype=o.dtype))  # fmt: skip
    else:
        stage1 = o.stage(o.lora(inp.distilled_lora, 0.3)) if hq else o.stage()
        pixels = types.VideoPixelShape(batch=1, frames=req.frames, height=h, width=w, fps=req.fps)
        latent = torch.empty(types.VideoLatentShape.from_pixel_shape(pixels).to_torch_shape())
        sched = require("ltx_core.components.schedulers").LTX2Scheduler()
        sigmas = sched.execute(steps=req.steps, latent=latent if hq else None)
        denoiser = o.guided(req, ctx_p, ctx_n, audio_guidance=kind != "a2v")
        if hq:
            loop = partial(o.S.res2s_audio_video_denoising_loop, model_dtype=o.dtype)
            stage1_kw = dict(stepper=steps.Res2sDiffusionStep(), loop=loop)
    v, a = stage1(denoiser=denoiser, sigmas=_f32(sigmas, o), noiser=noiser, **size, **stage1_kw,
                  video=o.spec(ctx_p[0], conditionings=conds), audio=o.spec(ctx_p[1], **audio_kw))  # fmt: skip
    up = o.upsampler(v.latent[:1])
    sig2 = consts.STAGE_2_DISTILLED_SIGMAS.to(device=o.device, dtype=torch.float32)
    conds = o.images(req, req.height, req.width, keyframes)
    stage2 = o.stage() if kind in ("distilled", "ic-lora") else o.stage(distilled)
    noised = dict(noise_scale=sig2[0].item())
    audio2 = audio_kw or dict(initial_latent=a.latent, **noised)
    stage2_kw = {k: stage1_kw[k] for k in ("stepper", "loop")} if hq else {}
    v2, a2 = stage2(denoiser=o.D.SimpleDenoiser(ctx_p[0], ctx_p[1]), sigmas=sig2, noiser=noiser,
                    **dict(size, width=req.width, height=req.height),
                    video=o.spec(ctx_p[0], conditionings=conds, initial_latent=up, **noised),
                    audio=o.spec(ctx_p[1], **audio2), **stage2_kw)  # fmt: skip
    if kind == "a2v":
        return o.decode(v2.latent, audio_kw["initial_latent"], gen, keep_audio=decoded.waveform.squeeze(0))
    final_audio = a if kind in ("two-stage", "two-stage-hq") else a2  # these discard stage 2's audio
    return o.decode(v2.latent, final_audio.latent, gen)


def _official_retake(o: _Official, req: Request) -> dict:
    media = require("ltx_pipelines.utils.media_io")
    region = require("ltx_pipelines.retake").TemporalRegionMask
    gen = torch.Generator(device=o.device).manual_seed(req.seed)
    noiser = require("ltx_core.components.noisers").GaussianNoiser(generator=gen)
    shape = media.get_videostream_metadata(str(o.inp.video))
    video = o.image_conditioner(lambda enc: o.H.video_latent_from_file(
        video_encoder=enc, file_path=str(o.inp.video), output_shape=shape, dtype=o.dtype, device=o.device))  # fmt: skip
    audio = o.audio_conditioner(lambda enc: o.H.audio_latent_from_file(
        audio_encoder=enc, file_path=str(o.inp.video), output_shape=shape, dtype=o.dtype, device=o.device))  # fmt: skip
    ctx_p, ctx_n = o.ctx[req.prompt], o.ctx[req.negative_prompt]
    window = [region(start_time=0.1, end_time=0.3, fps=shape.fps)]
    sigmas = require("ltx_core.components.schedulers").LTX2Scheduler().execute(steps=req.steps)
    denoiser = o.D.GuidedDenoiser(ctx_p[0], ctx_p[1],
                                  o.G.MultiModalGuider(guider_params(req.video_guidance), ctx_n[0]),
                                  o.G.MultiModalGuider(guider_params(req.audio_guidance), ctx_n[1]))  # fmt: skip
    v, a = o.stage()(denoiser=denoiser, sigmas=_f32(sigmas, o), noiser=noiser, width=shape.width,
                     height=shape.height, frames=shape.frames, fps=shape.fps,
                     video=o.spec(ctx_p[0], conditionings=window, initial_latent=video),
                     audio=o.spec(ctx_p[1], conditionings=window, initial_latent=audio))  # fmt: skip
    return o.decode(v.latent, a.latent, gen)


def _f32(sigmas: torch.Tensor, o: _Official) -> torch.Tensor:
    return sigmas.to(device=o.device, dtype=torch.float32)


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def pipeline_parity(inp: Inputs, kinds=KINDS, group: str | None = None) -> list[Row]:
    """Final latents, frames and waveform of each pipeline in `kinds`, ours vs the official flow; "distilled-2.5"
    is the distilled pipeline on the checkpoint marked LTX-2.5."""
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
    marked = fx.write_bf16_copy(src, folder / f"{name}-as-2.5-bf16.safetensors", model_version="2.5.0")
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
        checkpoint_2_5=marked,
    )
