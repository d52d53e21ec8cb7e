"""LoRAs in the ComfyUI format, fused into loaded models.

A LoRA file holds pairs `<prefix><layer>.lora_A.weight` (rank, in) and `<layer>.lora_B.weight` (out, rank),
with prefix `diffusion_model.` (ComfyUI) or `model.diffusion_model.` or none. Each pair adds
strength * B @ A to `<layer>.weight`. Several LoRAs add up (the official order: per LoRA B*strength @ A,
cast to the weight's compute dtype, summed, added to the weight). Layers of the transformer and of the
text side (feature extractor, connectors) are both fused: the official builder fuses only the
transformer and silently drops the rest. A pair that matches no layer is an error, never ignored.

Float8 layers: fp8-cast weights are upcast, fused and rounded back to float8 (round to nearest; the
official CUDA path rounds stochastically); scaled fp8 weights are dequantised, fused and re-quantised
with a new per-tensor scale.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ltx.checkpoint import FP8_DTYPES, CheckpointError
from ltx.files import expect

_PREFIXES = ("model.diffusion_model.", "diffusion_model.")
_FP8_MAX = torch.finfo(torch.float8_e4m3fn).max


@dataclass(frozen=True)
class LoRA:
    path: Path
    strength: float
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]  # layer name -> (A, B)
    metadata: dict[str, str] = field(default_factory=dict)


def load_lora(path: str | os.PathLike, strength: float = 1.0) -> LoRA:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength):
        raise ValueError(f"{path}: a LoRA strength must be a finite number, got {strength!r}")
    ckpt = expect(path, "lora")
    downs, ups, other = {}, {}, []
    for key in ckpt.tensors:
        name = next((key[len(p) :] for p in _PREFIXES if key.startswith(p)), key)
        if name.endswith(".lora_A.weight"):
            downs[name[: -len(".lora_A.weight")]] = key
        elif name.endswith(".lora_B.weight"):
            ups[name[: -len(".lora_B.weight")]] = key
        elif not name.endswith(".alpha"):  # alpha is not applied, as in the official fusion
            other.append(key)
    unpaired = sorted(set(downs) ^ set(ups))
    if unpaired or other:
        raise CheckpointError(
            f"{ckpt.path}: not a LoRA in the ComfyUI format"
            + (f"; lora_A/lora_B without their pair: {', '.join(unpaired[:5])}" if unpaired else "")
            + (f"; keys that are no LoRA factors: {', '.join(other[:5])}" if other else "")
        )
    if not downs:
        raise CheckpointError(f"{ckpt.path}: holds no LoRA factors (*.lora_A.weight / *.lora_B.weight)")
    pairs = {}
    for name in downs:
        a, b = ckpt.tensor(downs[name]).clone(), ckpt.tensor(ups[name]).clone()
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise CheckpointError(
                f"{ckpt.path}: {name}: lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)} do not chain"
            )
        pairs[name] = (a, b)
    return LoRA(ckpt.path, float(strength), pairs, dict(ckpt.metadata))


def lora_delta(loras: list[LoRA], name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """sum over LoRAs of (B * strength) @ A for layer `name`, accumulated in `dtype` as ltx-core 1.2.0 does: the
    first LoRA's product, then each further one added in place (addmm); None if no LoRA has the layer."""
    total = None
    for lora in loras:
        if name in lora.pairs:
            a, b = (t.to(device) for t in lora.pairs[name])
            if total is None:
                total = torch.matmul(b * lora.strength, a).to(dtype)
            else:
                total.addmm_(b.to(dtype), a.to(dtype), alpha=lora.strength)
    return total


def _fuse_layer(layer: nn.Module, delta_for) -> None:
    w = layer.weight
    if w.dtype in FP8_DTYPES and hasattr(layer, "weight_scale"):  # scaled fp8: dequantise, add, re-quantise
        fused = w.float() * layer.weight_scale + delta_for(torch.bfloat16).float()
        scale = fused.abs().amax().clamp(min=1e-12) / _FP8_MAX
        layer.weight.data = (fused / scale).clamp(-_FP8_MAX, _FP8_MAX).to(w.dtype)
        layer.weight_scale.data = scale.to(layer.weight_scale.dtype).reshape(layer.weight_scale.shape)
    elif w.dtype in FP8_DTYPES:  # fp8-cast: fuse in bf16, round back to fp8
        layer.weight.data = (delta_for(torch.bfloat16) + w.to(torch.bfloat16)).to(w.dtype)
    else:
        layer.weight.data = delta_for(w.dtype).add_(w).to(w.dtype)


def fuse_loras(module: nn.Module, loras: list[LoRA], names: dict[str, str]) -> set[str]:
    """Fuse into `module` every LoRA layer in `names` (LoRA layer name -> the module's submodule name).
    Returns the LoRA layer names fused; `ltx.pipelines.Models` checks first that each layer has a home."""
    fused = set()
    wanted = {n for lora in loras for n in lora.pairs} & set(names)
    for name in sorted(wanted):
        layer = module.get_submodule(names[name])
        out_in = tuple(layer.weight.shape)
        for lora in loras:
            if name in lora.pairs:
                a, b = lora.pairs[name]
                if (b.shape[0], a.shape[1]) != out_in:
                    raise CheckpointError(
                        f"{lora.path}: {name} adds a ({b.shape[0]}, {a.shape[1]}) update to a {out_in} weight: "
                        "this LoRA is for another model"
                    )
        with torch.no_grad():
            _fuse_layer(layer, lambda dtype, n=name, w=layer.weight: lora_delta(loras, n, dtype, w.device))
        fused.add(name)
    return fused
