"""LTX-Video 0.9.x generation against ltx-video 0.1.2's LTXVideoPipeline and LTXMultiScalePipeline, on tiny files.

The official pipeline is built as its inference.py builds it, from the same tiny files: the transformer (loaded
strictly from our tiny file), the CausalVideoAutoencoder of the tiny LTX-Video 0.9.1 VAE file, a patchifier of
patch 1 and a RectifiedFlowScheduler as the 0.9.x files configure it (SD3 shifting, the request's terminal, 0.1 in the
files). The
text side is given as features (prompt_embeds), so no T5 runs. Both sides draw from a generator of `seed`; the
official's global-generator draws (the encoder's posterior sample, the decode noise) are matched by seeding
torch's global generator and our `aux_generator` with `vae_seed`. Compared: the final latents (an
output_type="latent" run) and the decoded frames in [0, 1] (an output_type="pt" run).

The cases cover text-to-video, conditioning (a first frame hard and soft, keyframes at the first and last frame,
a video segment in the middle, a video at frame 0 to extend), video-to-video from pixels, the distilled timesteps,
per-interval guidance with skipped steps, stochastic sampling with a tone-mapped decode, batches of two, and both
multi-scale recipes (the tiny upsampler file; the dev recipe's STG blocks are remapped to the tiny model's 3).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ltx.config.ltxv import LTXVConfig
from ltx.dit.ltxv import load_ltxv_transformer
from ltx.parity.compare import Row, compare_exact
from ltx.parity.fixtures import write_tiny_checkpoint, write_tiny_upsampler
from ltx.parity.ltxv import OFFICIAL_STRATEGY, TINY_LTXV, official_module, write_tiny_ltxv
from ltx.parity.oracle import require
from ltx.pipelines.ltxv import GuidanceInterval, LTXVRequest, ltxv_generate
from ltx.pipelines.ltxv_conditions import LTXVCondition
from ltx.pipelines.ltxv_multiscale import RECIPES, ltxv_multiscale
from ltx.vae.loading import load_latent_upsampler, load_video_decoder, load_video_encoder

VAE = "ltx-video-0.9.1-tiny"  # 128 latent channels, 32x32x8, timestep-conditioned decoder with noise
UPSAMPLER = "ltx-video-upsampler-x2-tiny"
TINY_PIPELINE_LTXV = replace(TINY_LTXV, in_channels=128, out_channels=128, causal_temporal_positioning=True)


@dataclass(frozen=True)
class Case:
    name: str
    req: LTXVRequest
    conditions: tuple[tuple[int, int, float], ...] = ()  # (pixel frames, start frame, strength) per item
    batch: int = 1
    media: bool = False  # start from the clip's pixels (video-to-video)
    recipe: str | None = None  # a multi-scale recipe (RECIPES) instead of one pass


_DEV = replace(
    RECIPES["dev"],
    first={
        **RECIPES["dev"].first,
        "steps": 8,
        "guidance": tuple(
            replace(g, stg_blocks=tuple(b % 3 for b in g.stg_blocks)) for g in RECIPES["dev"].first["guidance"]
        ),
    },
    second={**RECIPES["dev"].second, "steps": 8, "guidance": (GuidanceInterval(1.0, 1, 1, 1, (2,)),)},
)
TINY_RECIPES = {"distilled": RECIPES["distilled"], "dev": _DEV}  # the dev recipe's blocks folded into 3, fewer steps
_TWO_INTERVALS = (
    GuidanceInterval(1.0, 1.0, 0.0, 1.0, ()),
    GuidanceInterval(0.8, 3.0, 1.0, 0.5, (1,)),
    GuidanceInterval(0.5, 2.0, 2.0, 1.0, (0, 2)),
)

CASES = {c.name: c for c in (
    Case("t2v-cfg-stg", LTXVRequest(64, 96, 17, fps=24.0, steps=3, guidance_scale=3.0, stg_scale=1.0, stg_blocks=(1,),
                                    rescaling=0.7, decode_timestep=0.05, decode_noise_scale=0.025)),
    Case("i2v", LTXVRequest(64, 96, 9, fps=25.0, steps=3, guidance_scale=3.0, stg_scale=1.0, stg_blocks=(0, 2),
                            stg_strategy="attention_skip", rescaling=0.7, image_noise_scale=0.15, decode_timestep=0.05,
                            decode_noise_scale=0.025), conditions=((1, 0, 1.0),)),
    Case("i2v-soft-cfg", LTXVRequest(64, 64, 9, fps=30.0, steps=2, guidance_scale=3.0, stg_scale=0.0, rescaling=1.0,
                                     cfg_star=True, terminal=None), conditions=((1, 0, 0.6),)),
    Case("t2v-batch2", LTXVRequest(64, 64, 9, steps=2, guidance_scale=2.0, stg_scale=0.5, stg_blocks=(2,),
                                   stg_strategy="transformer_block", rescaling=0.5, decode_timestep=0.03), batch=2),
    Case("keyframes", LTXVRequest(64, 64, 17, steps=3, guidance_scale=2.0, stg_scale=0.0, decode_timestep=0.05,
                                  decode_noise_scale=0.025), conditions=((1, 0, 1.0), (1, 16, 0.8))),
    Case("segment-middle", LTXVRequest(64, 64, 33, steps=2, guidance_scale=2.0, stg_scale=1.0, stg_blocks=(1,),
                                       decode_timestep=0.05), conditions=((17, 8, 0.9), (1, 0, 1.0))),
    Case("extend", LTXVRequest(64, 64, 25, steps=2, guidance_scale=1.0, stg_scale=1.0, stg_blocks=(0,)),
         conditions=((9, 0, 1.0),)),
    Case("v2v", LTXVRequest(64, 64, 9, steps=6, skip_initial_steps=2, guidance_scale=2.0, stg_scale=0.0), media=True),
    Case("distilled-batch2", LTXVRequest(64, 64, 9, timesteps=(1.0, 0.9937, 0.9094, 0.725), guidance_scale=1.0,
                                         stg_scale=0.0, decode_timestep=0.05, decode_noise_scale=0.025),
         conditions=((1, 8, 1.0),), batch=2),
    Case("intervals", LTXVRequest(64, 96, 9, steps=5, skip_final_steps=1, guidance=_TWO_INTERVALS, cfg_star=True),
         conditions=((1, 0, 1.0),)),
    Case("stochastic-tonemap", LTXVRequest(64, 64, 9, steps=3, guidance_scale=2.0, stg_scale=0.0, stochastic=True,
                                           tone_map=0.6, decode_timestep=0.05, decode_noise_scale=0.025),
         conditions=((1, 0, 1.0),)),
    Case("multiscale-distilled", LTXVRequest(96, 96, 9, decode_timestep=0.05, decode_noise_scale=0.025,
                                             tone_map=0.6), conditions=((1, 0, 1.0),), recipe="distilled"),
    Case("multiscale-dev", LTXVRequest(96, 160, 9, decode_timestep=0.05, decode_noise_scale=0.025),
         recipe="dev"),
)}  # fmt: skip


def write_files(folder: str | Path, cfg: LTXVConfig = TINY_PIPELINE_LTXV) -> tuple[Path, Path, Path]:
    """(transformer file, VAE file, latent upsampler file) in `folder`, all in the official layout."""
    folder = Path(folder)
    transformer = write_tiny_ltxv(folder / "ltxv-tiny.safetensors", cfg)
    vae = write_tiny_checkpoint(VAE, folder / "vae.safetensors")
    return transformer, vae, write_tiny_upsampler(UPSAMPLER, folder / "upsampler.safetensors")


def inputs(cfg: LTXVConfig, case: Case, seed: int = 3, dtype: torch.dtype = torch.float32) -> dict:
    """Text features with 0/1 masks (prompt and negative prompt of different lengths), the conditions' pixels and
    (video-to-video) the clip's, in [-1, 1]; all but the masks drawn in float32 and given in `dtype`."""
    req = case.req
    g = torch.Generator().manual_seed(seed)
    b, s = case.batch, 6
    mask, negative_mask = torch.ones(b, s), torch.ones(b, s)
    mask[:, 4:], negative_mask[:, 2:] = 0, 0
    mask[1:, 5:] = 1
    x = {
        "context": torch.randn(b, s, cfg.caption_channels, generator=g).to(dtype),
        "context_mask": mask,
        "negative_context": torch.randn(b, s, cfg.caption_channels, generator=g).to(dtype),
        "negative_mask": negative_mask,
    }
    # (an item after frame 0 must have the clip's batch in ltx-video; ours also takes a batch of 1 there)
    x["conditions"] = [
        ((torch.rand(b, 3, n, req.height, req.width, generator=g) * 2 - 1).to(dtype), frame, strength)
        for n, frame, strength in case.conditions
    ]
    if case.media:
        x["media"] = (torch.rand(1, 3, req.frames, req.height, req.width, generator=g) * 2 - 1).to(dtype)
    return x  # fmt: skip


def official_pipeline(transformer_path: str | Path, vae_path: str | Path):
    from safetensors.torch import load_file

    cva = require("ltx_video.models.autoencoders.causal_video_autoencoder")
    ours = load_ltxv_transformer(transformer_path, dtype=torch.float32)
    transformer = official_module(ours.cfg).eval()
    state = {k.removeprefix("model.diffusion_model."): v for k, v in load_file(str(transformer_path)).items()}
    transformer.load_state_dict(state, strict=True)
    vae = cva.CausalVideoAutoencoder.from_pretrained(str(vae_path), torch_dtype=torch.float32).eval()
    return official_pipeline_of(transformer, vae)


def official_pipeline_of(transformer, vae):
    """LTXVideoPipeline as ltx-video's inference.py builds it, around these modules (no text encoder: the text comes
    as prompt_embeds): a patchifier of patch 1, the RectifiedFlowScheduler the 0.9.x files configure."""
    pipe_mod = require("ltx_video.pipelines.pipeline_ltx_video")
    rf = require("ltx_video.schedulers.rf")
    patchifier = require("ltx_video.models.transformers.symmetric_patchifier").SymmetricPatchifier
    pipe = pipe_mod.LTXVideoPipeline(
        tokenizer=None, text_encoder=None, vae=vae, transformer=transformer,
        scheduler=rf.RectifiedFlowScheduler(shifting="SD3", target_shift_terminal=0.1),
        patchifier=patchifier(patch_size=1),
        prompt_enhancer_image_caption_model=None, prompt_enhancer_image_caption_processor=None,
        prompt_enhancer_llm_model=None, prompt_enhancer_llm_tokenizer=None,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def official_settings(req: LTXVRequest) -> dict:
    """The request as LTXVideoPipeline.__call__'s sampling keywords (size and frames left out)."""
    kw = dict(num_inference_steps=req.steps, timesteps=list(req.timesteps) if req.timesteps else None,
              skip_initial_inference_steps=req.skip_initial_steps, skip_final_inference_steps=req.skip_final_steps,
              cfg_star_rescale=req.cfg_star, stochastic_sampling=req.stochastic, decode_timestep=req.decode_timestep,
              decode_noise_scale=req.decode_noise_scale, tone_map_compression_ratio=req.tone_map)  # fmt: skip
    if req.guidance:
        g = req.guidance
        kw.update(guidance_scale=[i.guidance_scale for i in g], stg_scale=[i.stg_scale for i in g],
                  rescaling_scale=[i.rescaling for i in g], guidance_timesteps=[i.start for i in g],
                  skip_block_list=[list(i.stg_blocks) for i in g])  # fmt: skip
    else:
        kw.update(guidance_scale=req.guidance_scale, stg_scale=req.stg_scale, rescaling_scale=req.rescaling,
                  skip_block_list=list(req.stg_blocks) or None)  # fmt: skip
    return kw


def run_official(pipe, case: Case, x: dict, seed: int, vae_seed: int, output: str, upsampler_path=None):
    pipe_mod = require("ltx_video.pipelines.pipeline_ltx_video")
    skip = require("ltx_video.utils.skip_layer_strategy").SkipLayerStrategy
    req = case.req
    items = [pipe_mod.ConditioningItem(m, f, s) for m, f, s in x["conditions"]] or None
    pipe.scheduler = require("ltx_video.schedulers.rf").RectifiedFlowScheduler(
        shifting="SD3", target_shift_terminal=req.terminal
    )
    torch.manual_seed(vae_seed)
    common = dict(
        height=req.height, width=req.width, num_frames=req.frames, frame_rate=req.fps, negative_prompt=None,
        skip_layer_strategy=getattr(skip, OFFICIAL_STRATEGY[req.stg_strategy]),
        generator=torch.Generator().manual_seed(seed), prompt_embeds=x["context"],
        prompt_attention_mask=x["context_mask"], negative_prompt_embeds=x["negative_context"],
        negative_prompt_attention_mask=x["negative_mask"], output_type=output, conditioning_items=items,
        media_items=x.get("media"), is_video=True, vae_per_channel_normalize=True,
        image_cond_noise_scale=req.image_noise_scale,
    )  # fmt: skip
    if case.recipe is None:
        return pipe(**common, **official_settings(req)).images
    recipe = TINY_RECIPES[case.recipe]
    upsampler = upsampler_path  # a file, or the official module itself
    if isinstance(upsampler, (str, Path)):
        up = require("ltx_video.models.autoencoders.latent_upsampler").LatentUpsampler
        upsampler = up.from_pretrained(str(upsampler_path)).eval()
    multi = require("ltx_video.pipelines.pipeline_ltx_video").LTXMultiScalePipeline(pipe, latent_upsampler=upsampler)
    passes = [official_settings(replace(req, **changes)) for changes in (recipe.first, recipe.second)]
    return multi(downscale_factor=recipe.downscale, first_pass=passes[0], second_pass=passes[1], **common).images


def run_ours(models, case: Case, x: dict, seed: int, vae_seed: int, req: LTXVRequest | None = None):
    transformer, decoder, encoder, upsampler = models
    conditions = [LTXVCondition(m, f, s) for m, f, s in x["conditions"]]
    common = dict(generator=torch.Generator().manual_seed(seed), aux_generator=torch.Generator().manual_seed(vae_seed),
                  conditions=conditions)  # fmt: skip
    text = (x["context"], x["context_mask"], x["negative_context"], x["negative_mask"])
    if case.recipe is not None:
        return ltxv_multiscale(transformer, decoder, upsampler, encoder, *text, req or case.req,
                               TINY_RECIPES[case.recipe], **common)  # fmt: skip
    return ltxv_generate(transformer, decoder, *text, req or case.req, encoder=encoder, media=x.get("media"), **common)


def ltxv_pipeline_parity(
    transformer_path: str | Path,
    vae_path: str | Path,
    upsampler_path: str | Path | None = None,
    cases=tuple(CASES),
    *,
    seed: int = 0,
    vae_seed: int = 7,
    ours_seed: int | None = None,
    ours_vae_seed: int | None = None,
    edit_request=None,
    realign: bool = False,
    dtype: torch.dtype = torch.float32,
    group: str = "ltx-video pipeline",
    around: Callable[[str], AbstractContextManager] | None = None,
) -> list[Row]:
    """Rows `<case>/latent` and `<case>/video` for each case on the CPU (the multi-scale cases need
    `upsampler_path`). ours_seed / ours_vae_seed / edit_request (a function of the request) change our side only, to
    show a wrong seed or setting is caught. realign: copy our decoder's weights out of the file's buffers into fresh
    memory (one-row matrix products round by the weights' alignment). dtype: the transformer, the VAE and the text
    features and media in it on both sides, as ltx-video's inference.py runs bfloat16 (its upsampler stays
    float32). around("ours" / "official"): a context each side's runs are made in (e.g. a layouts record)."""
    transformer = load_ltxv_transformer(transformer_path, dtype=dtype)
    decoder = load_video_decoder(vae_path, family="ltxv").to(dtype)
    if realign:
        for tensor in [*decoder.parameters(), *decoder.buffers()]:
            tensor.data = tensor.data.clone()
    encoder = load_video_encoder(vae_path, family="ltxv").to(dtype)
    upsampler = load_latent_upsampler(upsampler_path) if upsampler_path is not None else None
    models = (transformer, decoder, encoder, upsampler)
    pipe = official_pipeline(transformer_path, vae_path)
    pipe.transformer.to(dtype)
    pipe.vae.to(dtype)
    got, ref = {}, {}
    for name in cases:
        case = CASES[name]
        if case.recipe is not None and upsampler_path is None:
            raise ValueError(f"case {name} runs the multi-scale pipeline: give upsampler_path")
        x = inputs(transformer.cfg, case, dtype=dtype)
        req = case.req if edit_request is None else edit_request(case.req)
        with around("ours") if around else nullcontext():
            ours = run_ours(models, case, x, seed if ours_seed is None else ours_seed,
                            vae_seed if ours_vae_seed is None else ours_vae_seed, req)  # fmt: skip
        got[f"{name}/latent"], got[f"{name}/video"] = ours.latent, ours.video
        for output in ("latent", "pt"):
            with around("official") if around else nullcontext():
                out = run_official(pipe, case, x, seed, vae_seed, output, upsampler_path)
            ref[f"{name}/{'latent' if output == 'latent' else 'video'}"] = out
    return compare_exact(group, got, ref)
