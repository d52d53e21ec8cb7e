"""Build the transformer from an official single-file checkpoint: config from the metadata, model
on the meta device, weights assigned straight from the memory-mapped file to the target device.

Strict: every key under `model.diffusion_model.` (the text connectors aside) must be a parameter of
the model with the same shape, and every parameter must be in the file; otherwise one error lists
all that is wrong. Float8 layers are found per layer from the stored dtypes (ltx.nn.linear).
"""

from __future__ import annotations

import os

import torch

from ltx.checkpoint import FP8_DTYPES, TRANSFORMER_PREFIX, Checkpoint, CheckpointError
from ltx.config import TransformerConfig, preset
from ltx.dit.model import LTX2Transformer
from ltx.nn import install_fp8_layers


def transformer_keys(ckpt: Checkpoint) -> dict[str, str]:
    """Model key -> file key for the transformer's tensors (prefix stripped)."""
    return {k[len(TRANSFORMER_PREFIX) :]: k for k in ckpt.components.get("transformer", [])}


def transformer_config(ckpt: Checkpoint) -> TransformerConfig:
    """The file's transformer config; video-only when the file holds no audio-stream weights."""
    keys = transformer_keys(ckpt)
    if not keys:
        held = ", ".join(sorted(ckpt.components)) or "no tensors"
        raise CheckpointError(
            f"{ckpt.path}: holds no transformer (no keys under {TRANSFORMER_PREFIX!r}); it holds: {held}"
        )
    section = ckpt.config.get("transformer")
    if section is None:
        raise CheckpointError(
            f"{ckpt.path}: has no 'config' metadata with a 'transformer' section, so its architecture is unknown. "
            "Pass a config explicitly (e.g. config='ltx-2-19b' or --config ltx-2-19b)."
        )
    has_audio = "audio_patchify_proj.weight" in keys
    return TransformerConfig.from_metadata(section, has_audio=has_audio)


def _target_dtype(name: str, stored: torch.dtype, dtype: torch.dtype) -> torch.dtype:
    """float8 weights and their float32 scales stay as stored; other floats take `dtype`."""
    if stored in FP8_DTYPES or name.endswith(("weight_scale", "input_scale")):
        return stored
    return dtype if stored.is_floating_point else stored


def load_transformer(
    path: str | os.PathLike | Checkpoint,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    config: TransformerConfig | str | None = None,
) -> LTX2Transformer:
    """The transformer of an LTX-2 single-file checkpoint, in eval mode on `device`.

    Float parameters are cast to `dtype`, except float8 layers, which keep their stored weights and
    compute in the activations' dtype. On CPU with the file's own dtype, parameters are views of the
    memory map (no copy); elsewhere each tensor is converted on its own, so peak RAM stays at one
    tensor beyond the model.
    """
    ckpt = path if isinstance(path, Checkpoint) else Checkpoint(path)
    cfg = preset(config) if isinstance(config, str) else config or transformer_config(ckpt)
    keys = transformer_keys(ckpt)
    if not keys:
        raise CheckpointError(f"{ckpt.path}: holds no transformer (no keys under {TRANSFORMER_PREFIX!r})")
    stored = {name: ckpt.tensors[key].dtype for name, key in keys.items()}
    with torch.device("meta"):
        model = LTX2Transformer(cfg)
        model.fp8_layers = install_fp8_layers(model, stored)

    expected = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    missing = sorted(expected.keys() - keys.keys())
    unexpected = sorted(keys.keys() - expected.keys())
    mis_shaped = [
        f"{name}: file {ckpt.tensors[keys[name]].shape}, model {shape}"
        for name, shape in expected.items()
        if name in keys and ckpt.tensors[keys[name]].shape != shape
    ]
    if missing or unexpected or mis_shaped:
        lines = [f"{ckpt.path}: the transformer weights do not match the config {cfg!r}"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mis_shaped)):
            if items:
                lines.append(f"  {len(items)} {title}: " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
        raise CheckpointError("\n".join(lines))

    device = torch.device(device)
    state = {}
    for name in expected:
        tensor = ckpt.tensor(keys[name])
        state[name] = tensor.to(device=device, dtype=_target_dtype(name, tensor.dtype, dtype))
    model.load_state_dict(state, strict=True, assign=True)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
