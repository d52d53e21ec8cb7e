"""HDR IC-LoRA pipeline parity: `ltx.pipelines.hdr.hdr_ic_lora` against ltx-pipelines 1.2.0's
HDRICLoraPipeline.__call__ itself, run on an instance assembled from the official blocks in float32 (its
constructor fixes bf16 and fp8): stage 1, the x2 upsampler, the 2 x 2 x 2 tiled stage 2, the float32 decode and
the LogC3 inverse, on a built-in tiny checkpoint on the CPU: the final latent and the linear HDR frames.

The request is not a multiple of 64 (the size is padded, the output cropped back), the LoRA asks for a reference
at half size, and the high-quality mode (frames doubled) runs too."""

from __future__ import annotations

from pathlib import Path

import torch

from ltx.parity.compare import Row, compare_exact
from ltx.parity.oracle import require
from ltx.parity.pipelines import Inputs, _Official
from ltx.pipelines import Models, Request
from ltx.pipelines.hdr import hdr_ic_lora

STRENGTH = 0.9


def hdr_lora(inp: Inputs) -> Path:
    """A tiny HDR IC-LoRA for `inp.checkpoint`: LogC3, reference at half size."""
    from ltx.parity.pipeline_fixtures import write_tiny_lora

    path = inp.checkpoint.with_name(inp.checkpoint.stem + "-hdr-lora.safetensors")
    if not path.exists():
        metadata = {"hdr_transform": "logc3", "reference_downscale_factor": "2"}
        write_tiny_lora(inp.checkpoint, path, seed=4, every=4, metadata=metadata)
    return path


def hdr_request(high_quality: bool) -> Request:
    return Request("a prompt", seed=11, height=100, width=120, frames=5 if high_quality else 9, fps=24.0,
                   progress=False)  # fmt: skip


def run_ours(inp: Inputs, high_quality: bool = False, dtype=torch.float32, device="cpu") -> dict:
    models = Models(inp.checkpoint, prompts=inp.prompts, upsampler=inp.upsampler, loras=[(hdr_lora(inp), 1.0)],
                    device=device, dtype=dtype)  # fmt: skip
    r = hdr_ic_lora(models, hdr_request(high_quality), inp.video, strength=STRENGTH, high_quality=high_quality)
    return {"video_latent": r.video_latent, "linear": r.linear}


def run_official(inp: Inputs, high_quality: bool = False, dtype=torch.float32, device="cpu") -> dict:
    hdr = require("ltx_pipelines.hdr_ic_lora")
    registry = require("ltx_core.loader.registry")
    o = _Official(inp, dtype, torch.device(device), inp.checkpoint)
    pipe = object.__new__(hdr.HDRICLoraPipeline)  # its __init__ loads bf16 / fp8 models from paths
    lora = str(hdr_lora(inp))
    pipe.device, pipe.dtype = o.device, dtype
    pipe._tiled_vae_encode_threshold = hdr.TILED_VAE_ENCODE_PIXEL_THRESHOLD
    pipe.text_embeddings = o.ctx["a prompt"]
    pipe.image_conditioner, pipe.upsampler, pipe.video_decoder = o.image_conditioner, o.upsampler, o.video_decoder
    pipe._diffusion_registry = registry.ModelRegistry()
    pipe.stage_1 = pipe.stage_2 = o.stage(o.lora(lora, 1.0))
    pipe._hdr_config = hdr.read_hdr_lora_config(lora)
    req = hdr_request(high_quality)
    latents = []
    decode = pipe._decode_video
    pipe._decode_video = lambda latent, *a, **k: latents.append(latent) or decode(latent, *a, **k)
    with torch.no_grad():
        linear = pipe(seed=req.seed, height=req.height, width=req.width, num_frames=req.frames, frame_rate=req.fps,
                      video_conditioning=[(str(inp.video), STRENGTH)], tiling_config=None,
                      high_quality_hdr=high_quality)  # fmt: skip
    return {"video_latent": latents[0], "linear": linear}


def hdr_parity(inp: Inputs, high_quality: bool = False, group: str = "pipeline hdr-ic-lora") -> list[Row]:
    got = {k: v.detach().float().cpu() for k, v in run_ours(inp, high_quality).items()}
    ref = {k: v.detach().float().cpu() for k, v in run_official(inp, high_quality).items()}
    return compare_exact(group, got, ref)
