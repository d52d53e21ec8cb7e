"""A tiny LTX-2.5 diffusion-VAE file in the official layout, for parity runs and tests.

Tensors come from the official modules' state dicts (ltx-core 1.2.0: the diffusion decoder and the conv
encoder the same file carries), filled with random values and written the way the shipped file stores
them: bare `encoder.*` / `decoder.*` / `per_channel_statistics.*` keys, one fused `attn.qkv` Linear per
attention, `t_embedder.mlp.{0,2}`, static per-block gates (`gate_msa`, `gate_mlp`, `gate_ctx`) that the
loaders fold, and a `coarse_*` preview head that they drop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ltx.config.diffusion_vae import DIFFUSION_VAE_CLASS, DiffusionDecoderConfig
from ltx.parity.fixtures import _save, random_value
from ltx.parity.oracle import official_module

# Narrow stages of two heads of 16, a stage-5 width (32) other than the context's (16),
# non-cubic windows (W and H differ in stages 3-5) so that every axis's border handling matters.
TINY_DIFFUSION_DECODER = DiffusionDecoderConfig(
    in_channels=16,
    head_dim=16,
    t_emb_dim=32,
    stage_channels=(32, 32, 32, 32, 16),
    stage_depths=(1, 1, 1, 1, 2),
    stage_kernels=((3, 3, 3), (3, 3, 3), (3, 3, 5), (3, 5, 3), (3, 3, 3)),
    upsamples=(((1, 2, 2), 1), ((2, 1, 1), 1), ((2, 2, 2), 1), ((2, 2, 2), 2)),
    stage5_kernel=(3, 3, 5),
    stage5_channels=32,
)
# The conv encoder beside it: the nested `vae.encoder` section of the 2.5 file (16 latent channels).
TINY_ENCODER_SECTION: dict[str, Any] = {
    "dims": 3,
    "in_channels": 3,
    "out_channels": 16,
    "patch_size": 4,
    "norm_layer": "pixel_norm",
    "latent_log_var": "uniform",
    "spatial_padding_mode": "zeros",
    "blocks": [
        ["res_x", {"num_layers": 1}],
        ["compress_space_res", {"multiplier": 1}],
        ["compress_time_res", {"multiplier": 1}],
        ["compress_all_res", {"multiplier": 1}],
        ["res_x", {"num_layers": 1}],
        ["compress_all_res", {"multiplier": 2}],
    ],
}
COARSE_KEY = "decoder.coarse_head.weight"


def vae_section(cfg: DiffusionDecoderConfig, encoder: dict[str, Any] | None = None) -> dict[str, Any]:
    section = {"_class_name": DIFFUSION_VAE_CLASS, "model_output_type": cfg.model_output_type,
               "decoder": cfg.to_metadata()}  # fmt: skip
    if encoder is not None:
        section["encoder"] = encoder
    return section


def official_decoder_state(cfg: DiffusionDecoderConfig, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The official decoder's state dict (module names), built on `device` (meta: shapes only)."""
    from ltx_core.model.video_vae import VideoDecoderConfigurator

    with torch.device(device):
        return official_module(VideoDecoderConfigurator, {"vae": vae_section(cfg)}).state_dict()


def to_file_layout(state: dict[str, Any]) -> dict[str, Any]:
    """Official module names -> the file's keys: q/k/v fused into `qkv`, `t_embedder.mlp.{0,2}`, the
    `decoder.` prefix (the statistics stay top-level). Values are concatenated for q/k/v."""
    out: dict[str, Any] = {}
    for name, value in state.items():
        if name.startswith("per_channel_statistics."):
            out[name] = value
            continue
        key = "decoder." + name.replace("t_embedder.timestep_embedder.linear_1.", "t_embedder.mlp.0.")
        key = key.replace("t_embedder.timestep_embedder.linear_2.", "t_embedder.mlp.2.")
        if ".attn.qkv.to_" in key:
            fused = key.replace(".qkv.to_q.", ".qkv.").replace(".qkv.to_k.", ".qkv.").replace(".qkv.to_v.", ".qkv.")
            out.setdefault(fused, []).append(value)
            continue
        out[key] = value
    return {k: torch.cat(v) if isinstance(v, list) else v for k, v in out.items()}


def our_decoder_state(cfg: DiffusionDecoderConfig) -> dict[str, torch.Tensor]:
    from ltx.vae.diffusion import DiffusionVideoDecoder

    with torch.device("meta"):
        return DiffusionVideoDecoder(cfg).state_dict()


def _encoder_state(cfg: DiffusionDecoderConfig, encoder: dict[str, Any], official: bool) -> dict[str, torch.Tensor]:
    section = vae_section(cfg, encoder)
    if official:
        from ltx_core.model.video_vae import VideoEncoderConfigurator

        return official_module(VideoEncoderConfigurator, {"vae": section}).state_dict()
    from ltx.config import VideoVAEConfig
    from ltx.vae.video import VideoEncoder

    with torch.device("meta"):
        return VideoEncoder(VideoVAEConfig.from_metadata(section, "ltx2")).state_dict()


def diffusion_vae_tensors(
    cfg: DiffusionDecoderConfig, encoder: dict[str, Any] | None, seed: int, official: bool = True
) -> dict:
    """File key -> random tensor; the names and shapes from the official modules (or, `official=False`,
    from ours: the same layout without importing the official packages)."""
    gen = torch.Generator().manual_seed(seed)
    decoder = official_decoder_state(cfg) if official else our_decoder_state(cfg)
    state = {k: random_value(k, v.shape, gen).contiguous() for k, v in decoder.items()}
    tensors = to_file_layout(state)
    for i in range(cfg.stage_depths[4]):  # static gates near 1, per output channel
        for gate in ("gate_msa", "gate_mlp", "gate_ctx"):
            tensors[f"decoder.diff_blocks.{i}.{gate}"] = 1 + 0.3 * torch.randn(cfg.c5, generator=gen)
    tensors[COARSE_KEY] = torch.randn(cfg.out_channels * cfg.patch_size**2, cfg.c5, generator=gen)
    n = cfg.in_channels
    tensors["per_channel_statistics.channel"] = torch.arange(n, dtype=torch.float32)
    tensors["per_channel_statistics.mean-of-stds"] = random_value("mean-of-stds", (n,), gen)
    if encoder is not None:
        for k, v in _encoder_state(cfg, encoder, official).items():
            if not k.startswith("per_channel_statistics."):
                tensors["encoder." + k] = random_value(k, v.shape, gen).contiguous()
    return tensors


def write_tiny_diffusion_vae(
    path: str | Path,
    cfg: DiffusionDecoderConfig = TINY_DIFFUSION_DECODER,
    encoder: dict[str, Any] | None = TINY_ENCODER_SECTION,
    seed: int = 0,
    prefix: str = "",
    official: bool = True,
) -> Path:
    """The tiny diffusion-VAE file (`encoder` None: no encoder; `prefix` "vae." writes the monolithic
    layout's keys; `official=False` takes the layout from our modules)."""
    tensors = {prefix + k: v for k, v in diffusion_vae_tensors(cfg, encoder, seed, official).items()}
    metadata = {"config": json.dumps({"vae": vae_section(cfg, encoder)}), "model_version": "2.5.0"}
    return _save(tensors, path, metadata)


def diffusion_decoder_manifest(cfg: DiffusionDecoderConfig) -> dict:
    """Every decoder tensor of the diffusion-VAE file (as the file stores them: bare keys, fused qkv) for
    `cfg`, from the official module on the meta device: key -> [shape, dtype]."""
    state = official_decoder_state(cfg, device="meta")
    tensors = {k: [list(v.shape), "bfloat16"] for k, v in to_file_layout(state).items()}
    return {
        "source": "ltx-core 1.2.0 VideoDecoderConfigurator on the meta device, in the file's layout "
        "(bare decoder.* keys, q/k/v fused as attn.qkv, t_embedder.mlp.{0,2}; optional gates and coarse_* left out)",
        "config": {"vae": vae_section(cfg)},
        "parameters": sum(torch.Size(shape).numel() for shape, _ in tensors.values()),
        "tensors": tensors,
    }
