"""The LTX-Video 0.9.x transformer against ltx-video 0.1.2's Transformer3DModel, block by block.

A tiny file in the official layout (`model.diffusion_model.*`, `config["transformer"]`), written from the
official module's state dict with random values, is loaded by both. Cases (batch 2, per-token timesteps,
positions with a non-zero frame offset, a 0/1 text mask): the plain pass; a self-attention key mask; and each
of the four STG strategies on blocks 0 and 2 for sample 1. Compared: every block's output and the velocity.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ltx.config.ltxv import LTXVConfig
from ltx.dit.ltxv import STG, STG_STRATEGIES, LTXVTransformer, load_ltxv_transformer
from ltx.parity.compare import Row, compare_exact
from ltx.parity.fixtures import _save, random_value
from ltx.parity.hooks import capture
from ltx.parity.oracle import require

# dim 32 = 2 heads of 16: dim % 6 = 2, so the RoPE table's padding columns are exercised
TINY_LTXV = LTXVConfig(num_layers=3, heads=2, head_dim=16, in_channels=16, out_channels=16, cross_attention_dim=32,
                       caption_channels=24)  # fmt: skip
CASES = ("plain", "self-mask", *(f"stg-{s}" for s in STG_STRATEGIES))
OFFICIAL_STRATEGY = {"attention_values": "AttentionValues", "attention_skip": "AttentionSkip",
                     "residual": "Residual", "transformer_block": "TransformerBlock"}  # fmt: skip


def official_module(cfg: LTXVConfig):
    model = require("ltx_video.models.transformers.transformer3d").Transformer3DModel
    return model.from_config(cfg.to_metadata())


def diffusers_module(cfg: LTXVConfig):
    """diffusers' LTXVideoTransformer3DModel of the same layout (a second opinion; its key names: `diffusers_keys`)."""
    model = require("diffusers").LTXVideoTransformer3DModel
    return model(
        in_channels=cfg.in_channels, out_channels=cfg.out_channels, patch_size=1, patch_size_t=1,
        num_attention_heads=cfg.heads, attention_head_dim=cfg.head_dim, cross_attention_dim=cfg.cross_attention_dim,
        num_layers=cfg.num_layers, caption_channels=cfg.caption_channels, qk_norm="rms_norm_across_heads",
        norm_eps=cfg.norm_eps, norm_elementwise_affine=False, activation_fn="gelu-approximate", attention_bias=True,
        attention_out_bias=True,
    )  # fmt: skip


def diffusers_keys(state: dict) -> dict:
    """The official transformer's state (keys without `model.diffusion_model.`) under diffusers' names."""
    names = {"patchify_proj": "proj_in", "adaln_single": "time_embed", "q_norm": "norm_q", "k_norm": "norm_k"}
    out = {}
    for key, value in state.items():
        for old, new in names.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def write_tiny_ltxv(path: str | Path, cfg: LTXVConfig = TINY_LTXV, seed: int = 0, official: bool = True) -> Path:
    """The tiny transformer file, its tensor names and shapes from the official module (`official=False`: from
    ours, the same layout, without ltx-video)."""
    gen = torch.Generator().manual_seed(seed)
    if official:
        state = official_module(cfg).state_dict()
    else:
        with torch.device("meta"):
            state = LTXVTransformer(cfg).state_dict()
    tensors = {"model.diffusion_model." + k: random_value(k, v.shape, gen).contiguous() for k, v in state.items()}
    return _save(tensors, path, {"config": json.dumps({"transformer": cfg.to_metadata()})})


def inputs(cfg: LTXVConfig, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b, (f, h, w), s = 2, (3, 2, 3), 5
    t = f * h * w
    grid = torch.stack(torch.meshgrid(torch.arange(f), torch.arange(h), torch.arange(w), indexing="ij")).reshape(3, t)
    positions = (grid.float() * torch.tensor([8.0, 32.0, 32.0])[:, None])[None].repeat(b, 1, 1)
    positions[:, 0] = (positions[:, 0] + 1 - 8).clamp(min=0) / 25.0  # causal frame offset, in seconds at 25 fps
    context_mask = torch.ones(b, s)
    context_mask[1, 3:] = 0
    attention_mask = torch.ones(b, t)
    attention_mask[0, -4:] = 0
    timesteps = torch.rand(b, t, generator=g)
    timesteps[1, :6] = 0.0  # a conditioned first frame
    return {"latent": torch.randn(b, t, cfg.in_channels, generator=g), "positions": positions,
            "context": torch.randn(b, s, cfg.caption_channels, generator=g), "context_mask": context_mask,
            "attention_mask": attention_mask, "timesteps": timesteps}  # fmt: skip


def _case(case: str, cfg: LTXVConfig) -> tuple[STG | None, bool]:
    stg = STG(case.removeprefix("stg-"), blocks=(0, 2), samples=(1,)) if case.startswith("stg-") else None
    return stg, case == "self-mask"


def run(model, cfg: LTXVConfig, x: dict, case: str, official: bool) -> dict[str, torch.Tensor]:
    stg, self_mask = _case(case, cfg)
    names = [f"transformer_blocks.{i}" for i in range(cfg.num_layers)]
    if official:
        skip = require("ltx_video.utils.skip_layer_strategy").SkipLayerStrategy
        mask = None
        if stg is not None:
            mask = torch.ones(cfg.num_layers, x["latent"].shape[0])
            mask[list(stg.blocks), 1] = 0.0

        def call():
            return model(x["latent"], x["positions"], encoder_hidden_states=x["context"], timestep=x["timesteps"],
                         encoder_attention_mask=x["context_mask"],
                         attention_mask=x["attention_mask"] if self_mask else None, skip_layer_mask=mask,
                         skip_layer_strategy=None if stg is None else getattr(skip, OFFICIAL_STRATEGY[stg.strategy]),
                         return_dict=False)[0]  # fmt: skip
    else:

        def call():
            return model(x["latent"], x["positions"], x["context"], x["timesteps"], context_mask=x["context_mask"],
                         attention_mask=x["attention_mask"] if self_mask else None, stg=stg)  # fmt: skip

    with torch.no_grad():
        return capture(model, names, call, case)


def ltxv_parity(path: str | Path, group: str = "ltx-video transformer", edit=None) -> list[Row]:
    """Rows for every block and the velocity of every case, float32 CPU."""
    ours = load_ltxv_transformer(path, dtype=torch.float32)
    if edit is not None:
        edit(ours)
    official = official_module(ours.cfg).eval()
    state = {k.removeprefix("model.diffusion_model."): v for k, v in _read(path).items()}
    official.load_state_dict(state, strict=True)
    x = inputs(ours.cfg)
    got, ref = {}, {}
    for case in CASES:
        got |= run(ours, ours.cfg, x, case, official=False)
        ref |= run(official, ours.cfg, x, case, official=True)
    return compare_exact(group, got, ref)


def _read(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))
