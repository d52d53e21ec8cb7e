"""Loading the LTX-2.5 diffusion video decoder from the diffusion-VAE file.

The file's keys are bare (`decoder.*`, `encoder.*`, `per_channel_statistics.*`) or carry a `vae.` prefix.
Our parameter names are the file's after the prefix, except for what the official loader changes too:

| our name                                   | in the file                                     |
|--------------------------------------------|-------------------------------------------------|
| `*.attn.qkv.to_q` / `to_k` / `to_v`        | `*.attn.qkv` (one Linear: q, k, v rows stacked) |
| `t_embedder.timestep_embedder.linear_1/2`  | `t_embedder.mlp.0` / `t_embedder.mlp.2`         |
| `diff_blocks.i.attn.proj`, `.mlp.w_down`,  | the same, times the block's static `gate_msa`,  |
| `.context_proj` (weight and bias)          | `gate_mlp`, `gate_ctx` (per output channel)     |

`coarse_*` tensors (a preview head no decode reads) are dropped; every other key must be used. Statistics
other than `std-of-means` / `mean-of-means` are the encoder's business and ignored here.
"""

from __future__ import annotations

import os

import torch

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.config.base import ConfigError
from ltx.config.diffusion_vae import DIFFUSION_VAE_CLASS, DiffusionDecoderConfig
from ltx.files import expect
from ltx.vae.diffusion import DiffusionVideoDecoder

_QKV = {".attn.qkv.to_q.": 0, ".attn.qkv.to_k.": 1, ".attn.qkv.to_v.": 2}
_T_EMBEDDER = {"t_embedder.timestep_embedder.linear_1.": "t_embedder.mlp.0.",
               "t_embedder.timestep_embedder.linear_2.": "t_embedder.mlp.2."}  # fmt: skip
_GATES = {".attn.proj.": ".gate_msa", ".mlp.w_down.": ".gate_mlp", ".context_proj.": ".gate_ctx"}
_STATISTICS = ("std-of-means", "mean-of-means")


def diffusion_decoder_config(ckpt: Checkpoint) -> DiffusionDecoderConfig:
    section = ckpt.section("vae")
    if section is None:
        raise CheckpointError(f"{ckpt.path}: has no 'config' metadata with a 'vae' section, so the decoder is unknown")
    name = section.get("_class_name", "CausalVideoAutoencoder")
    if name != DIFFUSION_VAE_CLASS:
        raise CheckpointError(
            f"{ckpt.path}: the diffusion decoder slot expects a diffusion VAE (config.vae._class_name "
            f"{DIFFUSION_VAE_CLASS!r}, e.g. ltx-2.5-video-vae); this file holds a {name!r} (a convolutional VAE): "
            "load it with ltx.vae.load_video_decoder"
        )
    try:
        return DiffusionDecoderConfig.from_metadata(section)
    except ConfigError as e:
        raise CheckpointError(f"{ckpt.path}: {e}") from None


def _prefixes(ckpt: Checkpoint) -> tuple[str, str]:
    """(decoder prefix, statistics prefix): bare or under `vae.`."""
    for top in ("", "vae."):
        if any(k.startswith(top + "decoder.") for k in ckpt.tensors):
            return top + "decoder.", top + "per_channel_statistics."
    raise CheckpointError(f"{ckpt.path}: holds no diffusion decoder (no keys under 'decoder.' or 'vae.decoder.')")


def file_key(name: str, prefix: str, stats: str, ckpt_keys=()) -> tuple[str, int | None]:
    """Our parameter name -> (its key in the file, which third of a fused qkv or None)."""
    if name.startswith("per_channel_statistics."):
        return stats + name.removeprefix("per_channel_statistics."), None
    for ours, theirs in _T_EMBEDDER.items():
        if name.startswith(ours) and prefix + name not in ckpt_keys:
            return prefix + theirs + name.removeprefix(ours), None
    for part, third in _QKV.items():
        if part in name:
            return prefix + name.replace(part, ".attn.qkv."), third
    return prefix + name, None


def _gate_key(name: str, prefix: str) -> str | None:
    for part, gate in _GATES.items():
        if name.startswith("diff_blocks.") and part in name:
            return prefix + name[: name.index(part)] + gate
    return None


def load_diffusion_decoder(
    path: str | os.PathLike | Checkpoint,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    config: DiffusionDecoderConfig | None = None,
    w_edges: str = "replicate",
) -> DiffusionVideoDecoder:
    """Strictly: one error lists every missing, unexpected or mis-shaped key."""
    ckpt = expect(path, "video_vae")
    cfg = config or diffusion_decoder_config(ckpt)
    prefix, stats = _prefixes(ckpt)
    with torch.device("meta"):
        module = DiffusionVideoDecoder(cfg, w_edges=w_edges)
    expected = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    keys = {name: file_key(name, prefix, stats, ckpt.tensors) for name in expected}
    gates = {name: g for name in expected if (g := _gate_key(name, prefix)) in ckpt.tensors}
    used = {k for k, _ in keys.values()} | set(gates.values())
    owned = {k for k in ckpt.tensors if k.startswith(prefix) and not k.startswith(prefix + "coarse_")}
    owned |= {stats + s for s in _STATISTICS if stats + s in ckpt.tensors}

    def file_shape(name: str) -> tuple[int, ...]:
        key, third = keys[name]
        shape = ckpt.tensors[key].shape
        return shape if third is None else (shape[0] // 3, *shape[1:]) if shape[0] % 3 == 0 else shape

    missing = sorted({k for k, _ in keys.values() if k not in ckpt.tensors})
    shapes = sorted(
        f"{keys[n][0]}: file {ckpt.tensors[keys[n][0]].shape}, model {s}" + (" (q, k, v stacked)" if keys[n][1] else "")
        for n, s in expected.items()
        if keys[n][0] in ckpt.tensors and file_shape(n) != s
    )
    unexpected = sorted(owned - used)
    if missing or unexpected or shapes:
        lines = [f"{ckpt.path}: the diffusion video decoder weights do not match its config"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", sorted(set(shapes)))):
            if items:
                lines.append(f"  {len(items)} {title}: " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
        raise CheckpointError("\n".join(lines))

    state, mapping = {}, ckpt.new_map()
    for name in expected:
        key, third = keys[name]
        t = ckpt.tensor(key, mapping)
        if third is not None:
            t = t.chunk(3, dim=0)[third]
        if name in gates:  # fold the static gate in float32, back in the file's dtype, as the official loader does
            gate = ckpt.tensor(gates[name], mapping).float()
            t = ((gate[:, None] if t.dim() == 2 else gate) * t.float()).to(t.dtype)
        state[name] = t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)
    module.load_state_dict(state, strict=True, assign=True)
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()
