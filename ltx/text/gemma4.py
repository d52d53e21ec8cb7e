"""Gemma-4 ("gemma4_unified") as LTX-2.5's text encoder: transformers' own Gemma4UnifiedModel (the language
model and its light image / audio embedders; no lm_head), filled strictly from LTX-2.5's single "with-proj"
file. That file also packs what a Gemma folder would hold beside the weights:
- metadata `gemma_config`: the Hugging Face config.json (model_type gemma4_unified, and `gemma_version`);
- uint8 tensor `tokenizer_json`: tokenizer.json; uint8 tensors `hf_asset__<name>`: the other small files
  (tokenizer_config.json, processor_config.json, chat_template.jinja, ...), or the same as metadata strings;
- `text_embedding_projection.*`: the LTX text projection (read by `ltx.text.processor`).
The Gemma weights come in one of two key layouts: Hugging Face (`model.language_model.*`, `model.embed_vision.*`,
`model.embed_audio.*`, `model.vision_embedder.*`) or ComfyUI's flat one (`model.layers.*`, `model.embed_tokens.*`,
`model.norm.*`, `vision_model.*`, `multi_modal_projector.*`, `audio_projector.*`), told apart by
`model.layers.0.post_feedforward_layernorm.weight`.

encode() gives the layers + 1 hidden states (embeddings x sqrt(hidden) first, the last after the final norm)
of the whole batch in one forward, as the official encoder runs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ltx.checkpoint import Checkpoint, CheckpointError, load_state
from ltx.text.tokenizer import JsonTokenizer

GEMMA_CONFIG_KEY = "gemma_config"
TOKENIZER_KEY = "tokenizer_json"
ASSET_PREFIX = "hf_asset__"
_NOT_GEMMA = ("text_embedding_projection.", TOKENIZER_KEY, ASSET_PREFIX)
_FLAT_PROBE = "model.layers.0.post_feedforward_layernorm.weight"


def read_gemma_file(path: str | os.PathLike) -> tuple[Checkpoint, dict]:
    """The opened text encoder file and its Hugging Face config; an error when it is not one."""
    ckpt = path if isinstance(path, Checkpoint) else Checkpoint(path)
    raw = ckpt.metadata.get(GEMMA_CONFIG_KEY)
    if raw is None:
        held = ", ".join(sorted(ckpt.components)) or "no tensors"
        raise CheckpointError(
            f"{ckpt.path}: not a text encoder file (no '{GEMMA_CONFIG_KEY}' metadata; it holds: {held}). "
            "LTX-2.5 takes its Gemma-4 file (gemma4-...-with-proj-...safetensors); LTX-2.0 / 2.3 a Gemma-3 folder"
        )
    try:
        config = json.loads(raw)
    except ValueError as e:
        raise CheckpointError(f"{ckpt.path}: the '{GEMMA_CONFIG_KEY}' metadata is not valid JSON ({e})") from None
    if not isinstance(config, dict) or not config.get("model_type"):
        raise CheckpointError(f"{ckpt.path}: the '{GEMMA_CONFIG_KEY}' metadata has no model_type")
    return ckpt, config


def packed_asset(ckpt: Checkpoint, name: str) -> bytes:
    """One of the files packed into the text encoder file: tensor `hf_asset__<name>` (`tokenizer_json` for
    tokenizer.json), else a metadata string of that name."""
    key = TOKENIZER_KEY if name == "tokenizer.json" else ASSET_PREFIX + name
    if key in ckpt.tensors:
        return ckpt.tensor(key).to(torch.uint8).numpy().tobytes()
    if name != "tokenizer.json" and name in ckpt.metadata:
        return ckpt.metadata[name].encode()
    raise CheckpointError(
        f"{ckpt.path}: the text encoder file lacks its {name} (tensor '{key}'); it was not packed "
        "with its tokenizer: use the complete file"
    )


# Gemma4UnifiedModel prefix -> its file prefix in the Hugging Face layout and in ComfyUI's (first match wins).
_LAYOUTS = (
    ("language_model.", "model.language_model.", "model."),
    ("embed_vision.multimodal_embedder.", "model.embed_vision.", "multi_modal_projector."),
    ("embed_vision.", "model.vision_embedder.", "vision_model."),
    ("embed_audio.", "model.embed_audio.", "audio_projector."),
)


def gemma4_file_keys(names: list[str], ckpt: Checkpoint) -> dict[str, str]:
    """Gemma4UnifiedModel state name -> file key, in whichever layout the file uses. A ComfyUI-layout file may
    keep some Hugging Face names (published files flattened only the language model), so both are looked for."""
    flat = _FLAT_PROBE in ckpt.tensors
    keys = {}
    for name in names:
        ours, hf, comfy = next((row for row in _LAYOUTS if name.startswith(row[0])), (None, None, None))
        if ours is None:
            raise CheckpointError(f"{ckpt.path}: no file key is known for Gemma-4's {name!r}")
        rest = name[len(ours) :]
        options = [comfy + rest, hf + rest] if flat else [hf + rest]
        keys[name] = next((k for k in options if k in ckpt.tensors), options[0])
    return keys


class Gemma4:
    """The tokenizer and the Gemma-4 model of an LTX-2.5 text encoder file."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        max_length: int = 1024,
    ):
        from transformers import Gemma4UnifiedConfig, Gemma4UnifiedModel

        ckpt, raw = read_gemma_file(path)
        if raw["model_type"] != "gemma4_unified":
            raise CheckpointError(
                f"{ckpt.path}: holds a {raw['model_type']!r} model; this loader reads Gemma-4 text encoder files "
                "(model_type gemma4_unified). For a Gemma-3, pass its Hugging Face folder"
            )
        tokenizer_config = json.loads(packed_asset(ckpt, "tokenizer_config.json"))
        self.tokenizer = JsonTokenizer(
            packed_asset(ckpt, "tokenizer.json"), tokenizer_config, max_length=max_length, source=str(ckpt.path)
        )
        config = Gemma4UnifiedConfig.from_dict(raw)
        with torch.device("meta"):
            model = Gemma4UnifiedModel(config)
        keys = gemma4_file_keys(list(model.state_dict()), ckpt)
        owned = {k for k in ckpt.tensors if not k.startswith(_NOT_GEMMA)}
        model = load_state(model, ckpt, keys, owned, device=device, dtype=dtype, what="Gemma-4 text encoder")
        # Buffers transformers computes at construction (not stored): the embedding scale sqrt(hidden) and the
        # rotary frequencies of each layer type (full-attention layers: proportional RoPE over global_head_dim).
        language = model.language_model
        scale = language.embed_tokens.scalar_embed_scale
        language.embed_tokens.embed_scale = torch.tensor(scale, device=device)
        language.rotary_emb = type(language.rotary_emb)(config.text_config).to(device)
        left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type == "meta"]
        if left:
            raise RuntimeError(f"Gemma-4 buffers left unset ({left[:3]}): this transformers version is not supported")
        self.model, self.config, self.device = model, config, torch.device(device)
        self.path = Path(ckpt.path)

    @property
    def hidden_size(self) -> int:
        return self.config.text_config.hidden_size

    @property
    def layers(self) -> int:
        return self.config.text_config.num_hidden_layers

    @torch.inference_mode()
    def encode(self, prompts: str | list[str]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """(hidden states: layers + 1 tensors (B, max_length, hidden), mask (B, max_length)) for a batch of prompts."""
        ids, mask = self.tokenizer(prompts)
        vocab = self.config.text_config.vocab_size
        if int(ids.max()) >= vocab:
            raise ValueError(f"a prompt has token id {int(ids.max())}, outside the model's {vocab} embeddings")
        ids, mask = ids.to(self.device), mask.to(self.device)
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        return tuple(out.hidden_states), mask
