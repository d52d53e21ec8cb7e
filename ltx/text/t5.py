"""T5-XXL as LTX-Video's text encoder: transformers' own T5EncoderModel from a local folder in the
layout the official LTX-Video code reads (PixArt-alpha/PixArt-XL-2-1024-MS: text_encoder/ and
tokenizer/), or a flat folder holding both. Prompts are stripped, EOS-terminated and right-padded
to 256 tokens; the encoder's last hidden state and the token mask go to the transformer."""

from __future__ import annotations

import os

import torch

from ltx.checkpoint import CheckpointError
from ltx.text.hf import check_folder, find_file, load_into, read_json, weight_files
from ltx.text.tokenizer import SentencePieceTokenizer

_HINT = "Pass a local folder with text_encoder/ and tokenizer/ (e.g. PixArt-alpha/PixArt-XL-2-1024-MS)."


class T5:
    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        max_length: int = 256,
    ):
        from transformers import T5Config, T5EncoderModel

        root = check_folder(folder, "T5", _HINT)
        weights = root / "text_encoder" if (root / "text_encoder").is_dir() else root
        raw = read_json(weights / "config.json", "T5")
        if raw.get("model_type") not in ("t5", "umt5"):
            raise CheckpointError(f"{weights}/config.json: model_type {raw.get('model_type')!r} is not T5")
        config = T5Config(**{k: v for k, v in raw.items() if k != "model_type"})
        self.tokenizer = SentencePieceTokenizer(find_file(root, "spiece.model", "T5"), kind="t5", max_length=max_length)
        with torch.device("meta"):
            model = T5EncoderModel(config)
        self.model = load_into(model, weight_files(weights, "T5"), ("",), device=device, dtype=dtype,
                               what="T5 encoder", ignore=("decoder.", "lm_head."),
                               aliases={"encoder.embed_tokens.weight": "shared.weight"})  # fmt: skip
        self.device = torch.device(device)

    @torch.inference_mode()
    def encode(self, prompts: str | list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings (B, 256, d_model), mask (B, 256)) for a batch of prompts."""
        ids, mask = self.tokenizer(prompts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state, mask
