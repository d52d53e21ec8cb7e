"""Prompt tokenisation as the official pipelines do it: sentencepiece (as their Hugging Face tokenizers do it)
for Gemma-3 and T5 folders, and a packed tokenizer.json (transformers' fast tokenizer) for Gemma-4.

Gemma (LTX-2): the prompt stripped, BOS first, cut to `max_length`, padded on the LEFT with <pad>.
T5 (LTX-Video): the prompt stripped, cut to `max_length` - 1, EOS appended, padded on the RIGHT.
Control pieces written in the text (e.g. "<eos>") become their token, as the Hugging Face
tokenizers treat special tokens; everything between them is sentencepiece's encoding.
"""

from __future__ import annotations

import os
import re

import torch


def _prompt_list(prompts: str | list[str]) -> list[str]:
    """One prompt or a non-empty list of them, as a list; anything else is an error that says so."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise ValueError("no prompts to tokenize")
    for prompt in prompts:
        if not isinstance(prompt, str):
            raise TypeError(f"prompts must be strings, got {type(prompt).__name__}")
    return prompts


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
        rows, masks = [], []
        for prompt in _prompt_list(prompts):
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


# tokenizer_config.json keys that describe the file, not how it tokenises (transformers' own loader consumes
# them; passed to the constructor they fail or change nothing).
_FILE_KEYS = frozenset({"tokenizer_class", "auto_map", "model_max_length", "backend", "is_local", "local_files_only",
                        "processor_class", "added_tokens_decoder"})  # fmt: skip


class JsonTokenizer:
    """A Hugging Face tokenizer.json (transformers' PreTrainedTokenizerFast over it, with the settings of its
    tokenizer_config.json), as the LTX-2 pipelines tokenise for Gemma: the prompt stripped and cut to
    `max_length`, <bos> first (prepended when the tokenizer does not add it, as Gemma-4's does not, then cut
    again), no EOS, padded on the LEFT with <pad> (<eos> when the tokenizer has no pad token)."""

    def __init__(self, tokenizer_json: bytes, config: dict, *, max_length: int, source: str):
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast

        try:
            backend = Tokenizer.from_buffer(tokenizer_json)
        except Exception as e:  # noqa: BLE001 - the tokenizers library raises its own exception types
            raise ValueError(f"{source}: its tokenizer.json cannot be read ({e})") from None
        kwargs = {k: v for k, v in config.items() if k not in _FILE_KEYS}
        self.tok = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=max_length, **kwargs)
        if self.tok.bos_token_id is None:
            raise ValueError(f"{source}: the tokenizer has no <bos> token, which every prompt must start with")
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token is not None else self.tok.eos_token_id
        if self.pad_id is None:
            raise ValueError(f"{source}: the tokenizer has neither a pad nor an eos token to pad prompts with")
        self.max_length = max_length

    @property
    def vocab_size(self) -> int:
        return len(self.tok)

    def __call__(self, prompts: str | list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(input ids, attention mask), both (B, max_length) int64."""
        rows, masks = [], []
        for prompt in _prompt_list(prompts):
            ids = self.tok(prompt.strip(), truncation=True, max_length=self.max_length)["input_ids"]
            if not ids or ids[0] != self.tok.bos_token_id:
                ids = [self.tok.bos_token_id, *ids][: self.max_length]
            pad = self.max_length - len(ids)
            rows.append([self.pad_id] * pad + ids)
            masks.append([0] * pad + [1] * len(ids))
        return torch.tensor(rows, dtype=torch.long), torch.tensor(masks, dtype=torch.long)
