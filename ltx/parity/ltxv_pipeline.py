"""LTX-Video 0.9.x single-pass generation against ltx-video 0.1.2's LTXVideoPipeline, on tiny files.

The official pipeline is built as its inference.py builds it, from the same tiny files: the transformer (loaded
strictly from our tiny file), the CausalVideoAutoencoder of the tiny LTX-Video 0.9.1 VAE file, a patchifier of
patch 1 and a RectifiedFlowScheduler as the 0.9.x files configure it (SD3 shifting, the request's terminal, 0.1 in the
files). The
text side is given as features (prompt_embeds), so no T5 runs. Both sides draw from a generator of `seed`; the
official's global-generator draws (the encoder's posterior sample, the decode noise) are matched by seeding
torch's global generator and our `vae_generator` with `vae_seed`. Compared: the final latents (an
output_type="latent" run) and the decoded frames in [0, 1] (an output_type="pt" run).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ltx.config.ltxv import LTXVConfig
from ltx.dit.ltxv import load_ltxv_transformer
from ltx.parity.compare import Row, compare_exact
from ltx.parity.fixtures import write_tiny_checkpoint
from ltx.parity.ltxv import OFFICIAL_STRATEGY, TINY_LTXV, official_module, write_tiny_ltxv
from ltx.parity.oracle import require
from ltx.pipelines.ltxv import LTXVRequest, ltxv_generate
from ltx.vae.loading import load_video_decoder, load_video_encoder

VAE = "ltx-video-0.9.1-tiny"  # 128 latent channels, 32x32x8, timestep-conditioned decoder with noise
TINY_PIPELINE_LTXV = replace(TINY_LTXV, in_channels=128, out_channels=128, causal_temporal_positioning=True)


@dataclass(frozen=True)
class Case:
    name: str
    req: LTXVRequest
    image: bool = False
    batch: int = 1


CASES = {
    "t2v-cfg-stg": Case("t2v-cfg-stg", LTXVRequest(64, 96, 17, fps=24.0, steps=3, guidance_scale=3.0, stg_scale=1.0,
                                                   stg_blocks=(1,), rescaling=0.7, decode_timestep=0.05,
                                                   decode_noise_scale=0.025)),
    "i2v": Case("i2v", LTXVRequest(64, 96, 9, fps=25.0, steps=3, guidance_scale=3.0, stg_scale=1.0, stg_blocks=(0, 2),
                                   stg_strategy="attention_skip", rescaling=0.7, image_strength=1.0,
                                   image_noise_scale=0.15, decode_timestep=0.05, decode_noise_scale=0.025), image=True),
    "i2v-soft-cfg": Case("i2v-soft-cfg", LTXVRequest(64, 64, 9, fps=30.0, steps=2, guidance_scale=3.0, stg_scale=0.0,
                                                     rescaling=1.0, cfg_star=True, image_strength=0.6, terminal=None),
                         image=True),
    "t2v-batch2": Case("t2v-batch2", LTXVRequest(64, 64, 9, steps=2, guidance_scale=2.0, stg_scale=0.5,
                                                 stg_blocks=(2,), stg_strategy="transformer_block", rescaling=0.5,
                                                 decode_timestep=0.03), batch=2),
}  # fmt: skip


def write_files(folder: str | Path, cfg: LTXVConfig = TINY_PIPELINE_LTXV) -> tuple[Path, Path]:
    """(transformer file, VAE file) in `folder`, both in the official layout."""
    folder = Path(folder)
    transformer = write_tiny_ltxv(folder / "ltxv-tiny.safetensors", cfg)
    return transformer, write_tiny_checkpoint(VAE, folder / "vae.safetensors")


def inputs(cfg: LTXVConfig, req: LTXVRequest, batch: int = 1, seed: int = 3) -> dict[str, torch.Tensor]:
    """Text features with 0/1 masks (prompt and negative prompt of different lengths), a first frame in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    b, s = batch, 6
    mask, negative_mask = torch.ones(b, s), torch.ones(b, s)
    mask[:, 4:], negative_mask[:, 2:] = 0, 0
    mask[1:, 5:] = 1
    return {"context": torch.randn(b, s, cfg.caption_channels, generator=g), "context_mask": mask,
            "negative_context": torch.randn(b, s, cfg.caption_channels, generator=g), "negative_mask": negative_mask,
            "image": torch.rand(1, 3, 1, req.height, req.width, generator=g) * 2 - 1}  # fmt: skip


def official_pipeline(transformer_path: str | Path, vae_path: str | Path):
    from safetensors.torch import load_file

    pipe_mod = require("ltx_video.pipelines.pipeline_ltx_video")
    cva = require("ltx_video.models.autoencoders.causal_video_autoencoder")
    rf = require("ltx_video.schedulers.rf")
    patchifier = require("ltx_video.models.transformers.symmetric_patchifier").SymmetricPatchifier
    ours = load_ltxv_transformer(transformer_path, dtype=torch.float32)
    transformer = official_module(ours.cfg).eval()
    state = {k.removeprefix("model.diffusion_model."): v for k, v in load_file(str(transformer_path)).items()}
    transformer.load_state_dict(state, strict=True)
    vae = cva.CausalVideoAutoencoder.from_pretrained(str(vae_path), torch_dtype=torch.float32).eval()
    pipe = pipe_mod.LTXVideoPipeline(
        tokenizer=None, text_encoder=None, vae=vae, transformer=transformer,
        scheduler=rf.RectifiedFlowScheduler(shifting="SD3", target_shift_terminal=0.1),
        patchifier=patchifier(patch_size=1),
        prompt_enhancer_image_caption_model=None, prompt_enhancer_image_caption_processor=None,
        prompt_enhancer_llm_model=None, prompt_enhancer_llm_tokenizer=None,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_official(pipe, req: LTXVRequest, x: dict, image: bool, seed: int, vae_seed: int, output: str):
    pipe_mod = require("ltx_video.pipelines.pipeline_ltx_video")
    skip = require("ltx_video.utils.skip_layer_strategy").SkipLayerStrategy
    items = [pipe_mod.ConditioningItem(x["image"], 0, req.image_strength)] if image else None
    pipe.scheduler = require("ltx_video.schedulers.rf").RectifiedFlowScheduler(
        shifting="SD3", target_shift_terminal=req.terminal
    )
    torch.manual_seed(vae_seed)
    out = pipe(
        height=req.height, width=req.width, num_frames=req.frames, frame_rate=req.fps, negative_prompt=None,
        num_inference_steps=req.steps, guidance_scale=req.guidance_scale, cfg_star_rescale=req.cfg_star,
        skip_layer_strategy=getattr(skip, OFFICIAL_STRATEGY[req.stg_strategy]),
        skip_block_list=list(req.stg_blocks) or None, stg_scale=req.stg_scale, rescaling_scale=req.rescaling,
        generator=torch.Generator().manual_seed(seed), prompt_embeds=x["context"],
        prompt_attention_mask=x["context_mask"], negative_prompt_embeds=x["negative_context"],
        negative_prompt_attention_mask=x["negative_mask"], output_type=output, conditioning_items=items,
        decode_timestep=req.decode_timestep, decode_noise_scale=req.decode_noise_scale, is_video=True,
        vae_per_channel_normalize=True, image_cond_noise_scale=req.image_noise_scale,
    )  # fmt: skip
    return out.images


def run_ours(transformer, decoder, encoder, req: LTXVRequest, x: dict, image: bool, seed: int, vae_seed: int):
    return ltxv_generate(
        transformer, decoder, x["context"], x["context_mask"], x["negative_context"], x["negative_mask"], req,
        generator=torch.Generator().manual_seed(seed), vae_generator=torch.Generator().manual_seed(vae_seed),
        image=x["image"] if image else None, encoder=encoder if image else None,
    )  # fmt: skip


def ltxv_pipeline_parity(
    transformer_path: str | Path,
    vae_path: str | Path,
    cases=tuple(CASES),
    *,
    seed: int = 0,
    vae_seed: int = 7,
    ours_seed: int | None = None,
    edit_request=None,
    realign: bool = False,
    group: str = "ltx-video pipeline",
) -> list[Row]:
    """Rows `<case>/latent` and `<case>/video` for each case, float32 CPU. ours_seed / edit_request (a function
    of the request) change our side only, to show a wrong seed or setting is caught. realign: copy our decoder's
    weights out of the file's buffers into fresh memory (one-row matrix products round by the weights' alignment)."""
    transformer = load_ltxv_transformer(transformer_path, dtype=torch.float32)
    decoder = load_video_decoder(vae_path, family="ltxv")
    if realign:
        for tensor in [*decoder.parameters(), *decoder.buffers()]:
            tensor.data = tensor.data.clone()
    encoder = load_video_encoder(vae_path, family="ltxv")
    pipe = official_pipeline(transformer_path, vae_path)
    got, ref = {}, {}
    for name in cases:
        case = CASES[name]
        x = inputs(transformer.cfg, case.req, case.batch)
        req = case.req if edit_request is None else edit_request(case.req)
        ours = run_ours(transformer, decoder, encoder, req, x, case.image, seed if ours_seed is None else ours_seed,
                        vae_seed)  # fmt: skip
        got[f"{name}/latent"], got[f"{name}/video"] = ours.latent, ours.video
        ref[f"{name}/latent"] = run_official(pipe, case.req, x, case.image, seed, vae_seed, "latent")
        ref[f"{name}/video"] = run_official(pipe, case.req, x, case.image, seed, vae_seed, "pt")
    return compare_exact(group, got, ref)
