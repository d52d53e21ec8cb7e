"""Prompt tokenisation with sentencepiece, as the official pipelines' Hugging Face tokenizers do it.

Gemma (LTX-2): the prompt stripped, BOS first, cut to `max_length`, padded on the LEFT with <pad>.
T5 (LTX-Video): the prompt stripped, cut to `max_length` - 1, EOS appended, padded on the RIGHT.
Control pieces written in the text (e.g. "<eos>") become their token, as the Hugging Face
tokenizers treat special tokens; everything between them is sentencepiece's encoding.
"""

from __future__ import annotations

import os
import re

import torch


class SentencePieceTokenizer:
    def __init__(self, model_file: str | os.PathLike, *, kind: str, max_length: int):
        import sentencepiece as spm

        if kind not in ("gemma", "t5"):
            raise ValueError(f"tokenizer kind must be 'gemma' or 't5', got {kind!r}")
        if not os.path.isfile(model_file):
            raise FileNotFoundError(f"{model_file}: no sentencepiece model (tokenizer.model / spiece.model) here")
        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        except (RuntimeError, OSError) as e:
            raise ValueError(f"{model_file}: not a sentencepiece model ({e})") from None
        self.kind, self.max_length = kind, max_length
        self.pad_id = self.sp.pad_id() if self.sp.pad_id() >= 0 else self.sp.eos_id()
        controls = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size()) if self.sp.is_control(i)]
        controls = [c for c in controls if c]  # the empty piece of unused control slots
        self._split = re.compile("(" + "|".join(map(re.escape, controls)) + ")") if controls else None

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Token ids of one prompt before padding and cutting (no BOS/EOS)."""
        ids: list[int] = []
        for i, part in enumerate(self._split.split(text) if self._split else [text]):
            if i % 2:
                ids.append(self.sp.piece_to_id(part))
            elif part:
                ids += self.sp.encode(part)
        return ids

    def __call__(self, prompts: str | list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(input ids, attention mask), both (B, max_length) int64."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise ValueError("no prompts to tokenize")
        rows, masks = [], []
        for prompt in prompts:
            if not isinstance(prompt, str):
                raise TypeError(f"prompts must be strings, got {type(prompt).__name__}")
            ids = self.encode(prompt.strip())
            if self.kind == "gemma":
                ids = ([self.sp.bos_id()] + ids)[: self.max_length]
                pad = self.max_length - len(ids)
                rows.append([self.pad_id] * pad + ids)
                masks.append([0] * pad + [1] * len(ids))
            else:
                ids = ids[: self.max_length - 1] + [self.sp.eos_id()]
                pad = self.max_length - len(ids)
                rows.append(ids + [self.pad_id] * pad)
                masks.append([1] * len(ids) + [0] * pad)
        return torch.tensor(rows, dtype=torch.long), torch.tensor(masks, dtype=torch.long)
