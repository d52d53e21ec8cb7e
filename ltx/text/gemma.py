"""Gemma-3 as LTX-2's text encoder: transformers' own Gemma3TextModel, loaded from a local folder in
the Hugging Face layout (config.json, safetensors weights, tokenizer.json or tokenizer.model), language
model only.

encode() gives what the official wrapper gives: the prompt tokens (left-padded to 1024) and all
hidden states, embeddings (x sqrt(hidden), in the weights' dtype) first, the last after the final norm.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ltx.checkpoint import CheckpointError
from ltx.text.hf import check_folder, load_into, read_json, weight_files
from ltx.text.tokenizer import JsonTokenizer, SentencePieceTokenizer

_HINT = (
    "Pass the folder of a local Gemma-3 download "
    "(e.g. google/gemma-3-12b-it: config.json, *.safetensors, tokenizer.json or tokenizer.model)."
)
# Where the language model's weights sit in the layouts transformers writes: Gemma3ForConditionalGeneration
# (as published, and as transformers 5 names it) and the text-only Gemma3ForCausalLM.
_PREFIXES = ("language_model.model.", "model.language_model.", "model.")


def gemma_text_config(folder: str | os.PathLike):
    """transformers' Gemma3TextConfig from the folder's config.json (multimodal or text-only)."""
    from transformers import Gemma3TextConfig

    path = check_folder(folder, "Gemma", _HINT)
    raw = read_json(path / "config.json", "Gemma-3")
    kind = raw.get("model_type")
    if kind == "gemma3":
        raw = raw.get("text_config") or {}
    elif kind != "gemma3_text":
        raise CheckpointError(f"{path}/config.json: model_type {kind!r} is not a Gemma-3 model (gemma3 / gemma3_text)")
    return Gemma3TextConfig(**{k: v for k, v in raw.items() if k != "model_type"})


def gemma_tokenizer(folder: Path, max_length: int) -> JsonTokenizer | SentencePieceTokenizer:
    """The folder's tokenizer.json with its tokenizer_config.json (what ltx-core 1.2.0 reads), or, in a folder
    without one, tokenizer.model read by sentencepiece the way the Hugging Face Gemma tokenizer reads it."""
    found = sorted(folder.rglob("tokenizer.json"))
    if not found:
        models = sorted(folder.rglob("tokenizer.model"))
        if not models:
            raise CheckpointError(f"{folder}: no tokenizer.json or tokenizer.model in this Gemma-3 folder or below it")
        return SentencePieceTokenizer(models[0], kind="gemma", max_length=max_length)
    config = read_json(found[0].parent / "tokenizer_config.json", "Gemma-3 tokenizer")
    return JsonTokenizer(found[0].read_bytes(), config, max_length=max_length, source=str(found[0]))


class Gemma:
    """The tokenizer and the language model of a Gemma-3 folder."""

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        max_length: int = 1024,
        gpu_memory: float | None = None,
    ):
        """`gpu_memory` (GiB): stream the decoder layers that do not fit from pinned host memory (ltx.offload)."""
        from transformers import Gemma3TextModel

        path = check_folder(folder, "Gemma", _HINT)
        config = gemma_text_config(path)
        self.tokenizer = gemma_tokenizer(path, max_length)
        if isinstance(self.tokenizer, SentencePieceTokenizer) and self.tokenizer.vocab_size > config.vocab_size:
            raise CheckpointError(
                f"{path}: tokenizer.model has {self.tokenizer.vocab_size} pieces but the model only "
                f"{config.vocab_size} embeddings: tokenizer and weights are from different models"
            )
        files = weight_files(path, "Gemma-3")
        with torch.device("meta"):
            model = Gemma3TextModel(config)
        load_on = "cpu" if gpu_memory is not None else device
        model = load_into(model, files, _PREFIXES, device=load_on, dtype=dtype, what="Gemma-3 language model",
                          ignore=("lm_head.", "vision_tower.", "multi_modal_projector."))  # fmt: skip
        # Buffers transformers computes at construction (not stored): make them real on `device`.
        model.embed_tokens.embed_scale = torch.tensor(model.embed_tokens.scalar_embed_scale, device=load_on)
        model.rotary_emb = type(model.rotary_emb)(config).to(load_on)
        left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type == "meta"]
        if left:
            raise RuntimeError(f"Gemma buffers left unset ({left[:3]}): this transformers version is not supported")
        self.streamer = None
        if gpu_memory is not None:
            from ltx.offload import stream_loaded

            self.streamer = stream_loaded(model, "layers", device, gpu_memory, "Gemma")
        self.model, self.config, self.device = model, config, torch.device(device)

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    @property
    def layers(self) -> int:
        return self.config.num_hidden_layers

    @torch.inference_mode()
    def encode(self, prompts: str | list[str]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """(hidden states: layers + 1 tensors (B, 1024, hidden), mask (B, 1024)) for a batch of prompts."""
        ids, mask = self.tokenizer(prompts)
        if int(ids.max()) >= self.config.vocab_size:
            raise ValueError(f"a prompt has token id {int(ids.max())}, outside the model's {self.config.vocab_size} "
                             "embeddings: the tokenizer and the weights are from different models")  # fmt: skip
        ids, mask = ids.to(self.device), mask.to(self.device)
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        return tuple(out.hidden_states), mask
