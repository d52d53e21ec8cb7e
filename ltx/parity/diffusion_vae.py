"""The LTX-2.5 diffusion-VAE file against ltx-core 1.2.0, stage by stage.

The same file is loaded by our loaders and the official ones. Decoder cases, each on the same latent
and the same seed (the noise is drawn as the official draws it):
- chunked: the official default mode (`DiffVAEMode.CHUNKED_EAGER`, which on a host without natten runs its
  own eager or Triton neighbourhood attention), batch 1, non-square, velocity output;
- combined: the official combined-context mode (block pathway `COMBINED`, eager neighbourhood attention),
  batch 2, the other non-square; stage 5's W borders shift inward there, so ours runs `w_edges="shift"`;
- x0: chunked, clean-pixel output, a latent below the size floor (edge padding in T, H and W).
(The official chunked MLP takes batch 1 only, and its x0 Euler step too: hence the split.)
Compared: stem, every stage 1-4 block and upsample, and per denoising step the noise-level embedding,
the pixel stem, every stage-5 block, norm_out and conv_out; then the pixels. And the conv encoder the file
carries: every stage and the latent.

Tiled decoding (stages 4-5 per tile, `DiffusionTiling` as frames, height, width, overlaps), each compared
chunk by chunk as the two yield them:
- tiled: T, H and W tiled, two temporal chunks; tiled-combined: the combined mode, batch 2;
- tiled-floor: W below the size floor (padded, then cropped from the blended pixels);
- tiled-divided: ramps that overlap within a tile, so the blend is divided by the summed weights;
- tiled-x0: one clean-pixel step, where each tile draws its own noise in turn.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch

from ltx.checkpoint import Checkpoint
from ltx.parity.compare import Row, compare_exact, compare_lowp
from ltx.parity.hooks import capture
from ltx.parity.oracle import build, require
from ltx.parity.vae import noise_drawn_in
from ltx.vae import load_video_encoder
from ltx.vae.diffusion_loading import diffusion_decoder_config, load_diffusion_decoder
from ltx.vae.diffusion_tiling import DiffusionTiling
from ltx.vae.diffusion_tiling import tiled_decode as diffusion_tiled_decode

# case -> (latent shape (channels filled in), official pathway, output type)
CASES = {
    "chunked": ((1, 3, 3, 4), "chunked", "v"),
    "combined": ((2, 3, 3, 3), "combined", "v"),
    "x0": ((1, 2, 2, 1), "chunked", "x0"),
}
ENCODE_VIDEO = (1, 3, 9, 64, 96)
# case -> (latent shape, DiffusionTiling fields, official pathway, output type, steps (None: the file's))
TILED_CASES = {
    "tiled": ((1, 3, 4, 3), (16, 96, 64, 8, 32), "chunked", "v", None),
    "tiled-combined": ((2, 3, 4, 3), (16, 96, None, 8, 32), "combined", "v", None),
    "tiled-floor": ((1, 3, 4, 1), (16, 96, None, 8, 32), "chunked", "v", None),
    "tiled-divided": ((1, 2, 3, 3), (None, 64, None, 0, 48), "chunked", "v", None),
    "tiled-x0": ((1, 3, 4, 3), (16, None, 96, 8, 32), "chunked", "x0", 1),
}


def official_decoder(path, device: torch.device, dtype: torch.dtype, pathway: str = "chunked"):
    """ltx-core's decoder as its VideoDecoder block builds it, in the chunked (default) or combined mode."""
    vae = require("ltx_core.model.video_vae")
    t = require("ltx_core.model.video_vae.transformer")
    cfg = require("ltx_core.model.video_vae.transformer.config")
    sd_ops = vae.video_decoder_sd_ops_for_checkpoint(str(path), diffusion_vae=True)
    decoder = build(path, vae.VideoDecoderConfigurator, sd_ops, device, dtype)
    logging.getLogger("ltx_core.model.video_vae.transformer.fallback_na").setLevel(logging.ERROR)
    if pathway == "chunked":
        return t.apply_diffvae_mode(decoder, cfg.DiffVAEMode.CHUNKED_EAGER)
    combined = cfg.DiffVAEConfig(
        block=cfg.DiffVAEBlockKind.COMBINED, w_chunks=1, natten_backend=None,
        attention=cfg.NAttentionKind.EAGER_SDPA, compile_blocks=False, compile_det_stages=False,
    )  # fmt: skip
    return t.apply_diffvae_config(decoder, combined)


def _stage_names(decoder, pathway: str) -> list[str]:
    names = ["conv_in"]
    for i, blocks in enumerate(decoder.det_stages):
        names += [f"det_stages.{i}.{j}" for j in range(len(blocks))] + [f"upsamples.{i}"]
    if pathway == "chunked":  # the official chunked mode upsamples stage 4 inside each stage-5 block
        names.remove("upsamples.3")
    return names + ["t_embedder", "conv_in_x_t", "norm_out", "conv_out"]


def record(decoder, pathway: str, run: Callable[[], torch.Tensor], official: bool) -> dict[str, torch.Tensor]:
    """Every call's output of the stage modules (name#call) and the result. The official stage-5 blocks
    are called through a method, not as modules, so theirs are wrapped."""
    out: dict[str, torch.Tensor] = {}
    count: dict[str, int] = {}

    def keep(name: str, value) -> None:
        value = value[0] if isinstance(value, tuple) else value
        i = count[name] = count.get(name, -1) + 1
        out[f"{name}#{i}"] = value.detach().float().cpu().clone()  # the official blocks add in place

    handles = [
        decoder.get_submodule(n).register_forward_hook(lambda _m, _a, o, n=n: keep(n, o))
        for n in _stage_names(decoder, pathway)
    ]
    for i, block in enumerate(decoder.diff_blocks):
        name = f"diff_blocks.{i}"
        if not official:
            handles.append(block.register_forward_hook(lambda _m, _a, o, n=name: keep(n, o)))
            continue
        method = "forward_x_ctx" if pathway == "chunked" else "forward_combined"
        inner = getattr(block, method)

        def wrapped(*args, _inner=inner, _name=name, **kwargs):
            result = _inner(*args, **kwargs)
            keep(_name, result.clone())
            return result

        setattr(block, method, wrapped)
    try:
        with torch.no_grad():
            out["out"] = run().detach().float().cpu()
    finally:
        for h in handles:
            h.remove()
        for block in decoder.diff_blocks:
            block.__dict__.pop("forward_x_ctx", None), block.__dict__.pop("forward_combined", None)
    return out


def decoder_inputs(channels: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {case: torch.randn(shape[0], channels, *shape[1:], generator=g) for case, (shape, _, _) in CASES.items()}


def run_decoders(make: Callable, official: bool, inputs, seed: int, device, cases) -> dict[str, torch.Tensor]:
    """make(pathway, output_type) -> a decoder; every case's captures, prefixed by the case."""
    out = {}
    for case in cases:
        _, pathway, output_type = CASES[case]
        decoder = make(pathway, output_type)
        latent = inputs[case]

        def run(decoder=decoder, latent=latent):
            return decoder(latent, generator=torch.Generator(device).manual_seed(seed))

        out |= {f"{case}/{k}": v for k, v in record(decoder, pathway, run, official).items()}
    return out


def official_tiling(tiling: DiffusionTiling):
    """The same tiles as ltx-core's TileSizeConfig (an untiled axis is size 0)."""
    tiling_module = require("ltx_core.tiling")
    axis = lambda size, overlap: tiling_module.DimensionSizeConfig(size or 0, overlap if size else 0)  # noqa: E731
    return tiling_module.TileSizeConfig(
        frames=axis(tiling.frames, tiling.overlap_frames),
        height=axis(tiling.height, tiling.overlap_px),
        width=axis(tiling.width, tiling.overlap_px),
    )


def tiled_run(path, device, dtype, official: bool, seed: int = 0, input_dtype=None, edit=None) -> dict:
    """Every tiled case's chunks (`case/chunk<i>`), ours or the official decoder's."""
    cfg = diffusion_decoder_config(Checkpoint(path))
    g = torch.Generator().manual_seed(seed + 1)
    out = {}
    for case, (shape, fields, pathway, output_type, steps) in TILED_CASES.items():
        latent = torch.randn(shape[0], cfg.in_channels, *shape[1:], generator=g)
        latent = latent.to(device, input_dtype or dtype).to(dtype)
        tiling = DiffusionTiling(*fields)
        generator = torch.Generator(device).manual_seed(seed)
        if official:
            decoder = official_decoder(path, device, dtype, pathway)
            decoder.model_output_type = output_type
            if steps is not None:
                decoder.default_inference_timesteps = torch.linspace(1.0, 1.0 / steps, steps)
            run = lambda d=decoder, x=latent, t=tiling, g=generator: d.tiled_decode(x, official_tiling(t), g)  # noqa: E731
        else:
            decoder = load_diffusion_decoder(path, device=device, dtype=dtype,
                                             w_edges="replicate" if pathway == "chunked" else "shift")  # fmt: skip
            steps = steps or cfg.default_num_inference_steps
            decoder.cfg = decoder.cfg.replace(model_output_type=output_type, default_num_inference_steps=steps)
            if edit is not None:
                edit(decoder)
            run = lambda d=decoder, x=latent, t=tiling, g=generator: diffusion_tiled_decode(d, x, t, g)  # noqa: E731
        with torch.no_grad():
            out |= {f"{case}/chunk{i}": c.float().cpu() for i, c in enumerate(run())}
    return out


def official_captures(path, device, dtype, cases=tuple(CASES), seed: int = 0, input_dtype=None) -> dict:
    """ltx-core's decoder on every case (inputs rounded to `input_dtype` first, default `dtype`)."""
    cfg = diffusion_decoder_config(Checkpoint(path))

    def make(pathway, output_type):
        decoder = official_decoder(path, device, dtype, pathway)
        decoder.model_output_type = output_type
        return decoder

    inputs = decoder_inputs(cfg.in_channels, seed)
    inputs = {k: v.to(device, input_dtype or dtype).to(dtype) for k, v in inputs.items()}
    return run_decoders(make, True, inputs, seed, device, cases)


def our_captures(path, device, dtype, cases=tuple(CASES), seed: int = 0, edit: Callable | None = None) -> dict:
    """Ours on every case; `edit(decoder)` may change the loaded decoder first (e.g. perturb a weight)."""
    cfg = diffusion_decoder_config(Checkpoint(path))

    def make(pathway, output_type):
        w_edges = "replicate" if pathway == "chunked" else "shift"
        decoder = load_diffusion_decoder(path, device=device, dtype=dtype, w_edges=w_edges)
        decoder.cfg = decoder.cfg.replace(model_output_type=output_type)
        if edit is not None:
            edit(decoder)
        return decoder

    inputs = {k: v.to(device, dtype) for k, v in decoder_inputs(cfg.in_channels, seed).items()}
    return run_decoders(make, False, inputs, seed, device, cases)


def diffusion_vae_parity(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    seed: int = 0,
    cases: tuple[str, ...] = tuple(CASES),
    encoder: bool = True,
    tiled: bool = True,
    edit_ours: Callable | None = None,
) -> list[Row]:
    """Rows for every compared tensor. In low precision the official float32 run is the reference
    (inputs rounded to `dtype` first, its noise drawn in `dtype`) and the official run in `dtype` sets the
    tolerance."""
    device = torch.device(device)
    group = group or os.path.basename(str(path))
    got = our_captures(path, device, dtype, cases, seed, edit_ours)
    ref = official_captures(path, device, dtype, cases, seed)
    if tiled:
        got |= tiled_run(path, device, dtype, official=False, seed=seed, edit=edit_ours)
        ref |= tiled_run(path, device, dtype, official=True, seed=seed)
    if encoder:
        got |= encoder_run(path, device, dtype, official=False)
        ref |= encoder_run(path, device, dtype, official=True)
    if dtype == torch.float32:
        return compare_exact(group, got, ref)
    with noise_drawn_in(dtype):
        ref32 = official_captures(path, device, torch.float32, cases, seed, input_dtype=dtype)
    if encoder:
        ref32 |= encoder_run(path, device, torch.float32, official=True, input_dtype=dtype)
    if tiled:
        ref32 |= tiled_run(path, device, torch.float32, official=True, seed=seed, input_dtype=dtype)
    return compare_lowp(group, got, ref, ref32)


def encoder_run(path, device, dtype, official: bool, input_dtype: torch.dtype | None = None) -> dict:
    """The conv encoder of the file: every stage and the latent (the mean; the 2.x encoders are deterministic)."""
    video = torch.rand(ENCODE_VIDEO, generator=torch.Generator().manual_seed(1)) * 2 - 1
    video = video.to(device, input_dtype or dtype).to(dtype)
    if official:
        vae = require("ltx_core.model.video_vae")
        module = build(path, vae.VideoEncoderConfigurator, vae.VAE_ENCODER_COMFY_KEYS_FILTER, device, dtype)
        run = lambda: module(video)  # noqa: E731
    else:
        module = load_video_encoder(path, device=device, dtype=dtype)
        run = lambda: module(video)  # noqa: E731
    stages = ["conv_in", *(f"down_blocks.{i}" for i in range(len(module.down_blocks))), "conv_out.conv"]
    return capture(module, stages, run, "encode")
