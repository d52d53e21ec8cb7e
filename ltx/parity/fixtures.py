"""Tiny checkpoints in the official single-file layout, with random weights.

The tensors come from the OFFICIAL modules' state dicts (ltx-core builds each component from the
tiny config; we only fill the values), so the layout is the official one by construction and our
loader is tested against it, not against itself. Values are drawn so that every branch matters:
weights ~ N(0, 1/fan_in), non-zero tables, norms near 1 (PARITY.md "The inputs").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ltx.config import TransformerConfig

# Official metadata keys for the text connectors (the text side reads them; the transformer ignores them).
_CONNECTOR_2_0 = {
    "connector_num_attention_heads": 3,
    "connector_attention_head_dim": 8,
    "connector_num_layers": 2,
    "connector_num_learnable_registers": 8,
    "connector_positional_embedding_max_pos": [4096],
}
_CONNECTOR_2_3 = {
    **_CONNECTOR_2_0,
    "connector_num_attention_heads": 5,
    "audio_connector_num_attention_heads": 5,
    "audio_connector_attention_head_dim": 4,
    "connector_apply_gated_attention": True,
    "caption_projection_first_linear": False,
    "caption_proj_input_norm": False,
    "caption_projection_second_linear": False,
}


@dataclass(frozen=True)
class TinySpec:
    """A built-in tiny checkpoint: a transformer config plus what else the file holds."""

    name: str
    description: str
    transformer: TransformerConfig
    model_version: str
    extra_config: dict[str, Any] = field(default_factory=dict)
    connectors: bool = True
    fp8_cast: bool = False  # store block attention/FF linears as float8_e4m3fn, the rest bf16


_TINY_2_0 = TransformerConfig(
    num_layers=3,
    num_attention_heads=5,  # 5 x 8 = 40: 40 % 6 = 4 channels of interleaved padding, as 4096 % 6 = 4
    attention_head_dim=8,
    cross_attention_dim=40,
    caption_channels=24,
    audio_num_attention_heads=3,
    audio_attention_head_dim=6,
    audio_cross_attention_dim=18,
    av_ca_timestep_scale_multiplier=1000,
    rope_type="interleaved",
    frequencies_precision="float32",
)
_TINY_2_3 = _TINY_2_0.replace(
    audio_num_attention_heads=5,  # split RoPE shapes the AV tables by the query stream's heads: keep them equal
    audio_attention_head_dim=4,
    audio_cross_attention_dim=20,
    rope_type="split",
    frequencies_precision="float64",
    apply_gated_attention=True,
    cross_attention_adaln=True,
    caption_proj_before_connector=True,
)

TINY: dict[str, TinySpec] = {
    s.name: s
    for s in (
        TinySpec(
            "ltx-2.0-tiny",
            "LTX-2.0 layout: interleaved RoPE with front padding, caption projections",
            _TINY_2_0,
            "2.0.0",
            _CONNECTOR_2_0,
        ),
        TinySpec(
            "ltx-2.3-tiny",
            "LTX-2.3 layout: split RoPE (float64 grid), gated attention, cross-attention AdaLN",
            _TINY_2_3,
            "2.3.0",
            _CONNECTOR_2_3,
        ),
        TinySpec(
            "ltx-2.0-video-only-tiny",
            "the video-only variant (split RoPE, float64 grid)",
            _TINY_2_0.replace(has_audio=False, rope_type="split", frequencies_precision="float64"),
            "2.0.0",
            connectors=False,
        ),  # fmt: skip
        TinySpec(
            "ltx-2.0-fp8-cast-tiny",
            "LTX-2.0 layout with fp8-cast block linears (float8_e4m3fn, no scales)",
            _TINY_2_0,
            "2.0.0",
            _CONNECTOR_2_0,
            fp8_cast=True,
        ),  # fmt: skip
    )
}


def official_config(spec: TinySpec) -> dict[str, Any]:
    return {"transformer": {**spec.transformer.to_metadata(), **spec.extra_config}}


def official_modules(spec: TinySpec) -> dict[str, torch.nn.Module]:
    """The official ltx-core modules for this spec, keyed by their prefix in the single file."""
    from ltx_core.model.transformer import LTXModelConfigurator, LTXVideoOnlyModelConfigurator
    from ltx_core.text_encoders.gemma.embeddings_connector import (
        AudioEmbeddings1DConnectorConfigurator,
        Embeddings1DConnectorConfigurator,
    )

    config = official_config(spec)
    configurator = LTXModelConfigurator if spec.transformer.has_audio else LTXVideoOnlyModelConfigurator
    modules = {"model.diffusion_model.": configurator.from_config(config)}
    if spec.connectors:
        modules["model.diffusion_model.video_embeddings_connector."] = Embeddings1DConnectorConfigurator.from_config(
            config
        )
        modules["model.diffusion_model.audio_embeddings_connector."] = (
            AudioEmbeddings1DConnectorConfigurator.from_config(config)
        )
    return modules


def random_value(
    name: str, shape: torch.Size, gen: torch.Generator, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """A value for parameter `name` that keeps activations O(1) and makes its branch contribute."""
    leaf = name.rsplit(".", 1)[-1]
    randn = lambda: torch.randn(shape, generator=gen, device=device)  # noqa: E731
    if leaf == "weight" and len(shape) == 1:  # RMSNorm weights: near 1
        return 1 + 0.2 * randn()
    if leaf == "weight":  # linear weights
        return randn() / math.sqrt(shape[-1])
    if leaf == "bias":
        return 0.1 * randn()
    # scale/shift tables, learnable registers: clearly non-zero
    return 0.5 * randn()


def fp8_cast_key(key: str) -> bool:
    """Which tensors the official fp8-cast files store in float8: block attention and FF linears."""
    suffixes = (".to_q.", ".to_k.", ".to_v.", ".to_out.0.", "ff.net.0.proj.", "ff.net.2.")
    return key.startswith("model.diffusion_model.transformer_blocks.") and any(s in key for s in suffixes)


def write_tiny_checkpoint(spec: TinySpec | str, path: str | Path, seed: int = 0) -> Path:
    """Write the tiny checkpoint `spec` to `path` (float32, or fp8 + bf16 for fp8-cast specs)."""
    spec = TINY[spec] if isinstance(spec, str) else spec
    gen = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in official_modules(spec).items():
        for name, value in module.state_dict().items():
            tensors[prefix + name] = random_value(name, value.shape, gen).contiguous()
    if spec.fp8_cast:
        tensors = {k: v.to(torch.float8_e4m3fn if fp8_cast_key(k) else torch.bfloat16) for k, v in tensors.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"config": json.dumps(official_config(spec)), "model_version": spec.model_version}
    save_file(tensors, str(path), metadata=metadata)
    return path


def write_scaled_fp8_checkpoint(
    src: str | Path, dst: str | Path, blocks: set[int], input_scale: float = 6.0 / 448
) -> Path:
    """Copy `src` with the attention/FF linears of `blocks` in the official scaled-fp8 layout:
    weight float8_e4m3fn (out, in) with a per-tensor `weight_scale` and a static `input_scale`."""
    from ltx.checkpoint import Checkpoint

    ckpt = Checkpoint(src)
    tensors = {k: ckpt.tensor(k).clone() for k in ckpt.tensors}
    fp8_max = torch.finfo(torch.float8_e4m3fn).max
    for key in list(tensors):
        parts = key.split(".")
        if not (key.endswith(".weight") and fp8_cast_key(key) and int(parts[3]) in blocks):
            continue
        w = tensors[key].float()
        scale = w.abs().max() / fp8_max
        tensors[key] = (w / scale).clamp(-fp8_max, fp8_max).to(torch.float8_e4m3fn)
        layer = key[: -len(".weight")]
        tensors[layer + ".weight_scale"] = scale.reshape(())
        tensors[layer + ".input_scale"] = torch.tensor(input_scale)
    save_file(tensors, str(dst), metadata=ckpt.metadata)
    return Path(dst)
