"""Build the transformer from an official single-file checkpoint: config from the metadata, model
on the meta device, weights assigned straight from the memory-mapped file to the target device.

Strict: every key under `model.diffusion_model.` (the text connectors aside) must be a parameter of
the model with the same shape, and every parameter must be in the file; otherwise one error lists
all that is wrong. Float8 layers are found per layer from the stored dtypes (ltx.nn.linear).
"""

from __future__ import annotations

import os

import torch

from ltx.checkpoint import FP8_DTYPES, TRANSFORMER_PREFIX, Checkpoint, CheckpointError, load_state
from ltx.config import TransformerConfig, preset
from ltx.config.ltxv import is_ltxv
from ltx.dit.ltx2 import LTX2Transformer
from ltx.files import expect
from ltx.nn import install_fp8_layers


def keep_stored_dtype(name: str, t: torch.Tensor) -> bool:
    """Whether the loaders keep a stored tensor's dtype: float8 weights and their scales."""
    return t.dtype in FP8_DTYPES or name.endswith(("weight_scale", "input_scale"))


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
    section = ckpt.section("transformer")
    if section is None:
        raise CheckpointError(
            f"{ckpt.path}: has no 'config' metadata with a 'transformer' section, so its architecture is unknown. "
            "Pass a config explicitly (e.g. config='ltx-2-19b' or --config ltx-2-19b)."
        )
    if is_ltxv(section):
        raise CheckpointError(
            f"{ckpt.path}: holds an LTX-Video 0.9.x transformer (single stream, T5 text), not an LTX-2 one: load it "
            "with ltx.dit.ltxv.load_ltxv_transformer"
        )
    has_audio = "audio_patchify_proj.weight" in keys
    return TransformerConfig.from_metadata(section, has_audio=has_audio)


def load_transformer(
    path: str | os.PathLike | Checkpoint,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    config: TransformerConfig | str | None = None,
    av_modulation: str = "own-timesteps",
    audio_only: bool = False,
) -> LTX2Transformer:
    """The transformer of an LTX-2 single-file checkpoint, in eval mode on `device`.

    Float parameters are cast to `dtype`, except float8 layers, which keep their stored weights and
    compute in the activations' dtype. On CPU with the file's own dtype, parameters are views of the
    memory map (no copy); elsewhere each tensor is converted on its own, so peak RAM stays at one
    tensor beyond the model. `av_modulation` picks the A/V cross-attention AdaLN rule ("own-timesteps", as
    ltx-core >= 1.1.4 computes it, or "other-sigma", as 1.0.0 did; see `ltx.dit.ltx2`).

    The keyframe embedding follows the file's `use_keyframes_abs_pos_embedding`, as the official loader does: a
    file that sets it without storing the vector gets a zero one (adding zero changes nothing), and a stored
    vector the config does not switch on is not used.

    `audio_only=True` builds the audio stream alone from an audio-video file (ltx-core's audio-only model, for
    text-to-audio): only the audio stream's weights are read, the rest of the file is left alone.
    """
    ckpt = expect(path, "transformer")
    cfg = preset(config) if isinstance(config, str) else config or transformer_config(ckpt)
    file_keys = transformer_keys(ckpt)
    if not file_keys:
        raise CheckpointError(f"{ckpt.path}: holds no transformer (no keys under {TRANSFORMER_PREFIX!r})")
    if audio_only:
        if not cfg.has_audio:
            raise CheckpointError(
                f"{ckpt.path}: holds the video-only transformer; audio_only needs an audio-video file"
            )
        cfg = cfg.replace(has_video=False)
    stored = {name: ckpt.tensors[key].dtype for name, key in file_keys.items()}
    with torch.device("meta"):
        model = LTX2Transformer(cfg, av_modulation=av_modulation)
        model.fp8_layers = install_fp8_layers(model, stored)
    keys = {name: TRANSFORMER_PREFIX + name for name in model.state_dict()}
    kind = "audio-only" if not cfg.has_video else "audio-video" if cfg.has_audio else "video-only"
    what = f"transformer ({kind}, {cfg.num_layers} blocks)"
    # every transformer key in the file must be used, except by the audio-only model, which answers for its own
    owned = set(keys.values()) & set(file_keys.values()) if audio_only else set(file_keys.values())
    optional = None
    if cfg.use_keyframes_abs_pos_embedding:
        optional = {"keyframes_abs_pos_embedding": torch.zeros(1, cfg.inner_dim)}
    else:
        owned.discard(TRANSFORMER_PREFIX + "keyframes_abs_pos_embedding")
    return load_state(model, ckpt, keys, owned, device=device, dtype=dtype, what=what, keep_dtype=keep_stored_dtype,
                      optional=optional)  # fmt: skip
