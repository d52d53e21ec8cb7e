"""Loading the audio VAE (`audio_vae.*`) and the vocoder (`vocoder.*`): from an LTX-2 / 2.3 single file or
from the LTX-2.5 audio VAE file, which holds both under the same prefixes with `config.audio_vae` and
`config.vocoder`."""

from __future__ import annotations

import os

import torch
from torch import nn

from ltx.audio.vae import AudioDecoder, AudioEncoder
from ltx.audio.vocoder import build_vocoder
from ltx.checkpoint import Checkpoint, CheckpointError, load_state
from ltx.config import AudioVAEConfig, VocoderConfig
from ltx.files import expect

_UNUSED_STATISTICS = ("audio_vae.per_channel_statistics.channel", "audio_vae.per_channel_statistics.mean-of-stds")


def _section(ckpt: Checkpoint, key: str) -> dict:
    expect(ckpt, key)
    section = ckpt.config.get(key)
    if section is None:
        raise CheckpointError(f"{ckpt.path}: has no 'config' metadata with a '{key}' section, so its layout is unknown")
    return section


def audio_vae_config(ckpt: Checkpoint) -> AudioVAEConfig:
    return AudioVAEConfig.from_metadata(_section(ckpt, "audio_vae"))


def vocoder_config(ckpt: Checkpoint) -> VocoderConfig:
    return VocoderConfig.from_metadata(_section(ckpt, "vocoder"))


def _load_half(cls, part: str, path, device, dtype, config) -> nn.Module:
    ckpt = expect(path, "audio_vae")
    cfg = config or audio_vae_config(ckpt)
    with torch.device("meta"):
        module = cls(cfg)
    keys = {
        name: f"audio_vae.{name}" if name.startswith("per_channel_statistics.") else f"audio_vae.{part}.{name}"
        for name in module.state_dict()
    }
    prefixes = (f"audio_vae.{part}.", "audio_vae.per_channel_statistics.")
    owned = {k for k in ckpt.components["audio_vae"] if k.startswith(prefixes) and not k.startswith(_UNUSED_STATISTICS)}
    return load_state(module, ckpt, keys, owned, device=device, dtype=dtype, what=f"audio VAE {part}")


def load_audio_encoder(
    path, *, device="cpu", dtype=torch.float32, config: AudioVAEConfig | None = None
) -> AudioEncoder:
    return _load_half(AudioEncoder, "encoder", path, device, dtype, config)


def load_audio_decoder(
    path, *, device="cpu", dtype=torch.float32, config: AudioVAEConfig | None = None
) -> AudioDecoder:
    return _load_half(AudioDecoder, "decoder", path, device, dtype, config)


def load_vocoder(
    path: str | os.PathLike | Checkpoint,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    config: VocoderConfig | None = None,
    bwe_in_float32: bool = True,
) -> nn.Module:
    """The 2.0 HiFi-GAN or the 2.3 / 2.5 vocoder with bandwidth extension, as the file's config says.
    The anti-aliasing filters are constants: the file's values are used when it has them.

    The bandwidth-extension vocoder computes in float32 whatever `dtype` is, as ltx-core does since
    1.1 (it upcasts the `dtype` weights per operation): its weights are rounded to `dtype`, then held
    in float32. `bwe_in_float32=False` computes in `dtype`, as ltx-core 1.0.0 did."""
    ckpt = expect(path, "vocoder")
    cfg = config or vocoder_config(ckpt)
    with torch.device("cpu"):  # small, and its constant filters must be computed, not left on meta
        module = build_vocoder(cfg)
    constants = {n: t for n, t in module.state_dict().items() if n.endswith(".filter")}
    with torch.device("meta"):
        module = build_vocoder(cfg)
    keys = {name: "vocoder." + name for name in module.state_dict()}
    owned = set(ckpt.components["vocoder"])
    module = load_state(module, ckpt, keys, owned, device=device, dtype=dtype, what="vocoder", optional=constants)
    return module.float() if cfg.bwe is not None and bwe_in_float32 else module
