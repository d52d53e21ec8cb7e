"""Tiny LTX-2.5 component files in the official split layout, with random weights: a convolutional
VAE (bare `encoder.*` / `decoder.*` / `per_channel_statistics.*` keys, `attn` blocks, 16x16x4
compression), the encoder half of a diffusion VAE file (the nested `CausalDiffusionVAE` config),
both 2.5 latent upscalers, and a duration head.

As in ltx.parity.fixtures, the key layout comes from the OFFICIAL modules' state dicts (ltx-core
builds each from the tiny config; we only fill the values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ltx.config import UpsamplerConfig, VideoVAEConfig
from ltx.config.vae import DIFFUSION_VAE
from ltx.parity.fixtures import _save, random_value
from ltx.parity.oracle import official_module, require

# A 16x16x4 VAE (two compress_all stages after a 4x4 patchify) with per-frame attention in both
# halves and a timestep-conditioned decoder; the encoder's attention runs at 256 channels.
VAE_2_5 = VideoVAEConfig(
    family="ltx2",
    encoder_blocks=(
        ("res_x", {"num_layers": 1}),
        ("compress_all_res", {"multiplier": 2}),
        ("attn", {}),
        ("res_x", {"num_layers": 1}),
        ("compress_all_res", {"multiplier": 1}),
        ("attn", {}),
    ),
    decoder_blocks=(
        ("res_x", {"num_layers": 1}),
        ("attn", {}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 1, "inject_noise": True}),
        ("attn", {}),
        ("compress_all", {"residual": True, "multiplier": 2}),
        ("res_x", {"num_layers": 1}),
    ),
    decoder_base_channels=16,
    timestep_conditioning=True,
)
# The encoder of a CausalDiffusionVAE file (its decoder belongs to ltx.vae.diffusion).
DIFFUSION_ENCODER = VideoVAEConfig(
    family="ltx2",
    encoder_blocks=(
        ("res_x", {"num_layers": 1}),
        ("compress_space_res", {"multiplier": 1}),
        ("compress_time_res", {"multiplier": 1}),
        ("compress_all_res", {"multiplier": 1}),
        ("attn", {}),
        ("compress_all_res", {"multiplier": 2}),
    ),
    class_name=DIFFUSION_VAE,
)
VAE_2_5_FILES = {"ltx-2.5-conv-vae-tiny": VAE_2_5, "ltx-2.5-diffusion-vae-encoder-tiny": DIFFUSION_ENCODER}


@dataclass(frozen=True)
class Upscaler25:
    name: str
    description: str
    config: UpsamplerConfig
    vae: str  # the VAE_2_5_FILES file whose statistics it runs with


_UP = UpsamplerConfig(mid_channels=32, num_blocks_per_stage=1)
UPSCALERS_2_5 = {
    s.name: s
    for s in (
        Upscaler25(
            "ltx-2.5-spatial-upscaler-x2-tiny",
            "spatial x2, with the statistics of a split conv VAE file",
            _UP.replace(rational_resampler=True),
            "ltx-2.5-conv-vae-tiny",
        ),
        Upscaler25(
            "ltx-2.5-temporal-upscaler-x2-tiny",
            "temporal x2 (F -> 2F-1), with the statistics of a diffusion VAE file",
            _UP.replace(spatial_upsample=False, temporal_upsample=True),
            "ltx-2.5-diffusion-vae-encoder-tiny",
        ),
    )
}


def vae_2_5_config(cfg: VideoVAEConfig) -> dict[str, Any]:
    section = cfg.to_metadata()
    if cfg.class_name == DIFFUSION_VAE:  # a decoder section, so that the file describes a whole VAE
        section["decoder"] = {"stage_channels": [64, 64, 32, 32, 32]}
    return {"vae": section}


def write_tiny_vae_2_5(name: str, path: str | Path, seed: int = 0) -> Path:
    """A 2.5 VAE file: bare keys (statistics once, for both halves), config only, no model_version."""
    cfg = VAE_2_5_FILES[name]
    config = vae_2_5_config(cfg)
    vae = require("ltx_core.model.video_vae")
    halves = [("encoder", vae.VideoEncoderConfigurator)]
    if cfg.class_name != DIFFUSION_VAE:
        halves.append(("decoder", vae.VideoDecoderConfigurator))
    shapes: dict[str, torch.Size] = {}
    for part, configurator in halves:
        for k, v in official_module(configurator, config).state_dict().items():
            shapes[k if k.startswith("per_channel_statistics.") else f"{part}.{k}"] = v.shape
    n = cfg.latent_channels
    shapes |= {f"per_channel_statistics.{k}": torch.Size([n]) for k in ("channel", "mean-of-stds")}
    if cfg.class_name == DIFFUSION_VAE:  # stand-ins for the diffusion decoder's weights
        shapes |= {"decoder.conv_in.weight": torch.Size([64, n]), "decoder.conv_in.bias": torch.Size([64])}
    gen = torch.Generator().manual_seed(seed)
    tensors = {k: _value(k, s, gen) for k, s in shapes.items()}
    return _save(tensors, path, {"config": json.dumps(config)})


def _value(key: str, shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
    if key.endswith(".norm.gamma"):  # the attention blocks' RMSNorm gains: near 1
        return 1 + 0.2 * torch.randn(shape, generator=gen)
    return random_value(key, shape, gen).contiguous()


def write_tiny_upscaler_2_5(name: str, path: str | Path, seed: int = 0) -> Path:
    """A 2.5 latent upscaler file: flat keys of the official module, its own `config`."""
    spec = UPSCALERS_2_5[name]
    module = official_module(require("ltx_core.model.upsampler").LatentUpsamplerConfigurator, spec.config.to_metadata())
    gen = torch.Generator().manual_seed(seed)
    tensors = {
        k: v.clone() if k.endswith("blur_down.kernel") else random_value(k, v.shape, gen).contiguous()
        for k, v in module.state_dict().items()
    }
    return _save(tensors, path, {"config": json.dumps(spec.config.to_metadata())})


def write_all_2_5(folder: str | Path) -> dict[str, Path]:
    """name -> path of every tiny 2.5 VAE and upscaler file, written into `folder`."""
    folder = Path(folder)
    files = {name: write_tiny_vae_2_5(name, folder / f"{name}.safetensors") for name in VAE_2_5_FILES}
    files |= {name: write_tiny_upscaler_2_5(name, folder / f"{name}.safetensors") for name in UPSCALERS_2_5}
    return files


def vae_file_manifest(cfg: VideoVAEConfig) -> dict[str, Any]:
    """Every key ltx-core reads from an LTX-2.5 VAE file of this config (bare keys; the statistics
    nobody reads, though shipped, left out), on the meta device."""
    vae = require("ltx_core.model.video_vae")
    config, tensors, parameters = vae_2_5_config(cfg), {}, {}
    with torch.device("meta"):
        halves = (("encoder", vae.VideoEncoderConfigurator), ("decoder", vae.VideoDecoderConfigurator))
        for part, configurator in halves:
            module = official_module(configurator, config)
            for k, t in module.state_dict().items():
                tensors[k if k.startswith("per_channel_statistics.") else f"{part}.{k}"] = [list(t.shape), "bfloat16"]
            parameters[part] = sum(p.numel() for p in module.parameters())
    return {"source": "ltx-core 1.2.0 Video{En,De}coderConfigurator on the meta device", "config": config,
            "parameters": parameters, "tensors": tensors}  # fmt: skip


def upscaler_manifest(cfg: UpsamplerConfig) -> dict[str, Any]:
    """Every key of a latent upscaler file of this config, from ltx-core's module on the meta device."""
    with torch.device("meta"):
        module = official_module(require("ltx_core.model.upsampler").LatentUpsamplerConfigurator, cfg.to_metadata())
    return {
        "source": "ltx-core 1.2.0 LatentUpsamplerConfigurator on the meta device",
        "config": cfg.to_metadata(),
        "parameters": sum(p.numel() for p in module.parameters()),
        "tensors": {k: [list(t.shape), "bfloat16"] for k, t in module.state_dict().items()},
    }
