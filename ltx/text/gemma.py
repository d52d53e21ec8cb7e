"""Gemma-3 as LTX-2's text encoder: transformers' own Gemma3TextModel, loaded from a local folder in
the Hugging Face layout (config.json, safetensors weights, tokenizer.model), language model only.

encode() gives what the official wrapper gives: the prompt tokens (left-padded to 1024) and all
hidden states, embeddings (x sqrt(hidden), in the weights' dtype) first, the last after the final norm.
"""

from __future__ import annotations

import os

import torch

from ltx.checkpoint import CheckpointError
from ltx.text.hf import check_folder, find_file, load_into, read_json, weight_files
from ltx.text.tokenizer import SentencePieceTokenizer

_HINT = (
    "Pass the folder of a local Gemma-3 download "
    "(e.g. google/gemma-3-12b-it: config.json, *.safetensors, tokenizer.model)."
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


class Gemma:
    """The tokenizer and the language model of a Gemma-3 folder."""

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        max_length: int = 1024,
    ):
        from transformers import Gemma3TextModel

        path = check_folder(folder, "Gemma", _HINT)
        config = gemma_text_config(path)
        self.tokenizer = SentencePieceTokenizer(
            find_file(path, "tokenizer.model", "Gemma-3"), kind="gemma", max_length=max_length
        )
        if self.tokenizer.vocab_size > config.vocab_size:
            raise CheckpointError(
                f"{path}: tokenizer.model has {self.tokenizer.vocab_size} pieces but the model only "
                f"{config.vocab_size} embeddings: tokenizer and weights are from different models"
            )
        files = weight_files(path, "Gemma-3")
        with torch.device("meta"):
            model = Gemma3TextModel(config)
        model = load_into(model, files, _PREFIXES, device=device, dtype=dtype, what="Gemma-3 language model",
                          ignore=("lm_head.", "vision_tower.", "multi_modal_projector."))  # fmt: skip
        # Buffers transformers computes at construction (not stored): make them real on `device`.
        model.embed_tokens.embed_scale = torch.tensor(model.embed_tokens.scalar_embed_scale, device=device)
        model.rotary_emb = type(model.rotary_emb)(config).to(device)
        left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type == "meta"]
        if left:
            raise RuntimeError(f"Gemma buffers left unset ({left[:3]}): this transformers version is not supported")
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
        ids, mask = ids.to(self.device), mask.to(self.device)
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        return tuple(out.hidden_states), mask
