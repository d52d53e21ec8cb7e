"""The text side of an LTX-2 model: feature extractor + video and audio connectors, from Gemma hidden
states to the contexts both streams attend to. Loaded strictly from `text_embedding_projection.*` and
`model.diffusion_model.{video,audio}_embeddings_connector.*` (`embeddings_connector.*` in video-only files):
both in the one file for LTX-2.0 / 2.3; for LTX-2.5 the projection is in the Gemma-4 text encoder file.
"""

from __future__ import annotations

import dataclasses
import os
from typing import NamedTuple

import torch
from torch import nn

from ltx.checkpoint import Checkpoint, CheckpointError, CheckpointSet, load_state
from ltx.config import ConfigError
from ltx.config.text import TextConfig
from ltx.files import expect
from ltx.text.connector import EmbeddingsConnector
from ltx.text.features import FeatureExtractor

_PREFIX = "model.diffusion_model."


class PromptEmbeddings(NamedTuple):
    """What the transformer takes for a batch of prompts: (B, T, video dim), (B, T, audio dim) or None,
    and the (B, T) context mask (all ones after the connectors' registers)."""

    video: torch.Tensor
    audio: torch.Tensor | None
    mask: torch.Tensor


class TextProcessor(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.text_embedding_projection = FeatureExtractor(cfg)
        self.video_embeddings_connector = EmbeddingsConnector(cfg.video)
        self.audio_embeddings_connector = EmbeddingsConnector(cfg.audio) if cfg.audio else None

    def forward(self, hidden_states, mask: torch.Tensor) -> PromptEmbeddings:
        """Gemma hidden states ((B, T, D) per layer, embeddings first) and the (B, T) token mask."""
        video, audio = self.text_embedding_projection(hidden_states, mask)
        return self.connect(video, audio, mask)

    def connect(self, video: torch.Tensor, audio: torch.Tensor | None, mask: torch.Tensor) -> PromptEmbeddings:
        """The connectors alone, on the feature extractor's outputs (what ltx-trainer's `conditions` files hold)."""
        video = self.video_embeddings_connector(video, mask)
        if self.audio_embeddings_connector is not None:
            audio = self.audio_embeddings_connector(audio, mask)
        valid = torch.ones(video.shape[:2], dtype=torch.long, device=video.device)
        if self.video_embeddings_connector.learnable_registers is None:
            valid = mask.long()
        return PromptEmbeddings(video, audio, valid)


def text_config(ckpt: Checkpoint, **overrides) -> TextConfig:
    """The file's text-side config; the register counts come from the stored register tensors."""
    held = ckpt.components
    if "text_connectors" not in held:
        found = ", ".join(sorted(held)) or "no tensors"
        raise CheckpointError(
            f"{ckpt.path}: holds no text side (needs the embeddings connectors, "
            f"'model.diffusion_model.*embeddings_connector.*'); it holds: {found}"
        )
    section = ckpt.section("transformer")
    if section is None:
        raise CheckpointError(f"{ckpt.path}: has no 'config' metadata with a 'transformer' section")
    names = _connector_names(ckpt)
    cfg = TextConfig.from_metadata(section, audio="audio" in names, **overrides)
    counts = {}
    for stream, prefix in names.items():
        key = f"{prefix}learnable_registers"
        counts[stream] = ckpt.tensors[key].shape[0] if key in ckpt.tensors else 0
    audio = dataclasses.replace(cfg.audio, registers=counts["audio"]) if cfg.audio else None
    return cfg.replace(video=dataclasses.replace(cfg.video, registers=counts["video"]), audio=audio)


def _connector_names(ckpt: Checkpoint) -> dict[str, str]:
    keys = ckpt.components["text_connectors"]
    if any(k.startswith(_PREFIX + "embeddings_connector.") for k in keys):
        return {"video": _PREFIX + "embeddings_connector."}
    names = {"video": _PREFIX + "video_embeddings_connector."}
    if any(k.startswith(_PREFIX + "audio_embeddings_connector.") for k in keys):
        names["audio"] = _PREFIX + "audio_embeddings_connector."
    return names


def projection_features(ckpt: Checkpoint) -> int:
    """Features per token the file's text projection takes (Gemma hidden size x (layers + 1))."""
    for name in ("aggregate_embed", "video_aggregate_embed"):
        key = f"text_embedding_projection.{name}.weight"
        if key in ckpt.tensors:
            return ckpt.tensors[key].shape[1]
    raise CheckpointError(f"{ckpt.path}: holds no text projection weight (text_embedding_projection.*)")


def projection_file(ckpt: Checkpoint, text_encoder: Checkpoint | None) -> Checkpoint:
    """Which file holds the text projection: the LTX-2 file itself (2.0, 2.3), or the text encoder file
    (LTX-2.5's "with-proj" Gemma file); exactly one of them may."""
    here = "text_projection" in ckpt.components
    there = text_encoder is not None and "text_projection" in text_encoder.components
    if here and there:
        raise CheckpointError(
            f"both {ckpt.path} and {text_encoder.path} hold a text projection (text_embedding_projection.*): "
            "pass a transformer file without one (LTX-2.5) or a Gemma folder (LTX-2.0 / 2.3)"
        )
    if not (here or there):
        where = f" nor {text_encoder.path}" if text_encoder is not None else ""
        raise CheckpointError(
            f"neither {ckpt.path}{where} holds the text projection (text_embedding_projection.*): LTX-2.5 keeps it "
            "in its text encoder file (gemma4-...-with-proj-...safetensors); pass that file as the text encoder"
        )
    return ckpt if here else text_encoder


def load_text_processor(
    path: str | os.PathLike | Checkpoint,
    *,
    text_encoder: str | os.PathLike | Checkpoint | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    gemma_hidden: int = 3840,
    gemma_layers: int = 48,
) -> TextProcessor:
    """The feature extractor and connectors of an LTX-2 file, for a Gemma with `gemma_layers` layers of
    width `gemma_hidden` (Gemma-3-12B by default; `TextEncoder` passes the loaded Gemma's). The projection
    comes from `path`, or from `text_encoder` (a with-proj Gemma file) when `path` has none (LTX-2.5)."""
    ckpt = expect(path, "text_connectors")
    if text_encoder is not None:
        text_encoder = expect(text_encoder, "text_projection")
    cfg = text_config(ckpt, gemma_hidden=gemma_hidden, gemma_layers=gemma_layers)
    source = projection_file(ckpt, text_encoder)
    first = "text_embedding_projection." + (
        "aggregate_embed.weight" if cfg.version == "v1" else "video_aggregate_embed.weight"
    )
    if first in source.tensors and source.tensors[first].shape[1] != cfg.features:
        raise ConfigError(
            f"{source.path}: its text projection takes {source.tensors[first].shape[1]} features per token, but a "
            f"Gemma with {gemma_layers} layers of {gemma_hidden} channels gives {cfg.features}: use the Gemma model "
            "this checkpoint was trained with (Gemma-3-12B for LTX-2.0 / 2.3)"
        )
    with torch.device("meta"):
        module = TextProcessor(cfg)
    names = _connector_names(ckpt)
    keys = {}
    for name in module.state_dict():
        stream, _, rest = name.partition("_embeddings_connector.")
        keys[name] = names[stream] + rest if rest else name
    owned = set(ckpt.components["text_connectors"]) | set(source.components["text_projection"])
    files = ckpt if source is ckpt else CheckpointSet([ckpt.path, source.path], ckpt.path)
    return load_state(module, files, keys, owned, device=device, dtype=dtype, what=f"text side ({cfg.version})")


def load_connectors(path: str | os.PathLike | Checkpoint, *, device="cpu", dtype=torch.float32) -> TextProcessor:
    """The text processor of an LTX-2 file for its connectors alone (`TextProcessor.connect`, on features already
    extracted, as ltx-trainer's `conditions` hold them): the Gemma it was made for need not be known."""
    ckpt = expect(path, "text_connectors")
    cfg = text_config(ckpt)
    first = "text_embedding_projection." + (
        "aggregate_embed.weight" if cfg.version == "v1" else "video_aggregate_embed.weight"
    )
    if first not in ckpt.tensors:
        raise ConfigError(f"{ckpt.path}: holds no text projection; pass the text encoder file that has it "
                          "(load_text_processor(..., text_encoder=...))")  # fmt: skip
    width = ckpt.tensors[first].shape[1]  # = Gemma's width x (its layers + 1): any split of it builds the same
    return load_text_processor(ckpt, device=device, dtype=dtype, gemma_hidden=width, gemma_layers=0)
