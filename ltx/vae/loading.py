"""Loading the video VAE from a checkpoint and latent upsamplers from their own files.

Single file: `vae.encoder.*`, `vae.decoder.*`, `vae.per_channel_statistics.*` (one copy, given to
both halves), and for LTX-Video files with use_quant_conv `vae.quant_conv.*` / `vae.post_quant_conv.*`.
The LTX-2.5 VAE files hold the same keys without the `vae.` prefix. `config["vae"]["_class_name"]`
tells the convolutional VAE (CausalVideoAutoencoder) from the 2.5 one whose decoder is a diffusion
model (CausalDiffusionVAE: its convolutional encoder loads here, its decoder in ltx.vae.diffusion).
Strict as the transformer loader: one error lists every missing, unexpected or mis-shaped key.
"""

from __future__ import annotations

import os

import torch

from ltx.checkpoint import Checkpoint, CheckpointError, load_state
from ltx.config import UpsamplerConfig, VideoVAEConfig
from ltx.config.vae import CONV_VAE, DIFFUSION_VAE
from ltx.files import expect
from ltx.vae.upsampler import LatentUpsampler
from ltx.vae.video import VideoDecoder, VideoEncoder

# Statistics the files carry but no official code reads.
_UNUSED_STATISTICS = ("per_channel_statistics.channel", "per_channel_statistics.mean-of-stds")
_BARE = ("encoder.", "decoder.", "per_channel_statistics.")  # an LTX-2.5 VAE file's own keys


def vae_prefix(ckpt: Checkpoint) -> str:
    """'vae.' for a single file, '' for a VAE file with bare `encoder.*` / `decoder.*` keys."""
    keys = [k for k in ckpt.tensors if k.startswith(("vae.", *_BARE))]
    if any(k.startswith("vae.") for k in keys):
        return "vae."
    if keys:
        return ""
    held = ", ".join(sorted(ckpt.components)) or "no tensors"
    raise CheckpointError(
        f"{ckpt.path}: holds no video VAE (no keys under 'vae.', 'encoder.' or 'decoder.'); it holds: {held}"
    )


def vae_family(ckpt: Checkpoint) -> str:
    """'ltx2' (ltx-core semantics) or 'ltxv' (LTX-Video 0.9.x, ltx-video semantics)."""
    version = ckpt.model_version or ""
    transformer_class = (ckpt.section("transformer") or {}).get("_class_name")
    if version.startswith("2") or {"audio_vae", "vocoder", "text_connectors"} & set(ckpt.components):
        return "ltx2"
    section = ckpt.section("vae") or {}
    if vae_prefix(ckpt) == "" or section.get("_class_name", CONV_VAE) != CONV_VAE:
        return "ltx2"  # only LTX-2.5 files have a VAE of their own or a diffusion decoder
    blocks = [b[0] for key in ("encoder_blocks", "decoder_blocks") for b in section.get(key) or ()]
    if "attn" in blocks:
        return "ltx2"  # per-frame attention blocks exist in ltx-core only
    if version.startswith("0.") or transformer_class == "Transformer3DModel":
        return "ltxv"
    raise CheckpointError(
        f"{ckpt.path}: cannot tell an LTX-2 VAE from an LTX-Video one (model_version {version or 'absent'}); "
        "pass family='ltx2' or family='ltxv'"
    )


def vae_config(ckpt: Checkpoint, family: str | None = None) -> VideoVAEConfig:
    vae_prefix(ckpt)  # raises for a file without a VAE
    section = ckpt.section("vae")
    if section is None:
        raise CheckpointError(
            f"{ckpt.path}: has no 'config' metadata with a 'vae' section, so the VAE's layout is unknown"
        )
    return VideoVAEConfig.from_metadata(section, family or vae_family(ckpt))


def _file_key(prefix: str, part: str, name: str) -> str:
    """Our parameter name in `part` -> its key in the file."""
    if name.startswith("per_channel_statistics.") or name.split(".")[0] in ("quant_conv", "post_quant_conv"):
        return prefix + name
    return f"{prefix}{part}.{name}"


def _load_half(cls, part: str, path, device, dtype, family, config):
    ckpt = expect(path, "video_vae")
    prefix = vae_prefix(ckpt)
    cfg = config or vae_config(ckpt, family)
    if part == "decoder" and cfg.class_name == DIFFUSION_VAE:
        raise CheckpointError(
            f"{ckpt.path}: its video decoder is a diffusion model (config vae._class_name {DIFFUSION_VAE!r}), not the "
            "convolutional one: load it with ltx.vae.diffusion_loading.load_diffusion_decoder (the encoder loads here)"
        )
    with torch.device("meta"):
        module = cls(cfg)
    keys = {name: _file_key(prefix, part, name) for name in module.state_dict()}
    quant = "quant_conv." if part == "encoder" else "post_quant_conv."
    owned = {
        k
        for k in ckpt.tensors
        if k.startswith(tuple(prefix + p for p in (f"{part}.", "per_channel_statistics.", quant)))
        and not k.startswith(tuple(prefix + u for u in _UNUSED_STATISTICS))
    }
    return load_state(module, ckpt, keys, owned, device=device, dtype=dtype, what=f"video VAE {part}")


def load_video_encoder(
    path: str | os.PathLike | Checkpoint,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    family: str | None = None,
    config: VideoVAEConfig | None = None,
) -> VideoEncoder:
    return _load_half(VideoEncoder, "encoder", path, device, dtype, family, config)


def load_video_decoder(
    path: str | os.PathLike | Checkpoint,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    family: str | None = None,
    config: VideoVAEConfig | None = None,
) -> VideoDecoder:
    return _load_half(VideoDecoder, "decoder", path, device, dtype, family, config)


def load_latent_upsampler(
    path: str | os.PathLike | Checkpoint, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> LatentUpsampler:
    """A latent upsampler file: flat keys, its own `config` metadata."""
    ckpt = expect(path, "upsampler")
    if not ckpt.config:
        raise CheckpointError(f"{ckpt.path}: has no 'config' metadata, so the upsampler's layout is unknown")
    cfg = UpsamplerConfig.from_metadata(ckpt.config)
    with torch.device("meta"):
        module = LatentUpsampler(cfg)
    keys = {name: name for name in module.state_dict()}
    optional = {}
    if cfg.rational_resampler and cfg.spatial_upsample and not cfg.temporal_upsample:
        # A constant (binomial blur kernel); ltx-core saves it as a buffer, a file may leave it out.
        with torch.device("cpu"):
            optional["upsampler.blur_down.kernel"] = type(module.upsampler.blur_down)(module.upsampler.den).kernel
    module = load_state(
        module, ckpt, keys, set(ckpt.tensors), device=device, dtype=dtype, what="latent upsampler", optional=optional
    )
    if "upsampler.blur_down.kernel" in ckpt.tensors:
        stored = ckpt.tensor("upsampler.blur_down.kernel").float()
        if not torch.allclose(stored, optional["upsampler.blur_down.kernel"]):
            raise CheckpointError(f"{ckpt.path}: upsampler.blur_down.kernel is not the 5x5 binomial kernel")
    return module
