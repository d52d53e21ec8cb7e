"""Tiny text encoders in the Hugging Face folder layout, written by transformers itself: a Gemma-3
(sized for the tiny LTX-2 files' text side) and a T5 encoder, each with a sentencepiece tokenizer
trained here on a small built-in corpus."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

from ltx.parity.fixtures import TINY_GEMMA

CORPUS = [
    "A cat walks slowly across a sunlit garden, its tail raised, while bees hover over lavender.",
    "The camera pans over a rainy city street at night; neon signs reflect in the puddles.",
    "Waves crash against dark rocks and a seagull cries above the foam.",
    "Close-up of hands kneading dough on a wooden table, flour dust in the warm light.",
    "A red vintage car drives along a coastal road at sunset, music playing from the radio.",
    "Two people talk quietly in a cafe; cups clink and a barista calls out an order.",
    "Snow falls on a pine forest. A deer lifts its head and listens.",
    "Fireworks burst over a river; the crowd cheers and the water glows orange and green.",
]
# The image tokens transformers' Gemma3Processor looks up in the tokenizer (ltx-core 1.2.0 builds the processor).
_IMAGE_TOKENS = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
PROMPTS = ["A cat walks in the garden.", "  Waves crash on the rocks at night, 3 seagulls cry: <eos> ok  ", ""]


def train_sentencepiece(path: Path, kind: str, vocab_size: int = 400) -> Path:
    """A BPE (Gemma-like: byte fallback, no dummy prefix, <pad>=0 <eos>=1 <bos>=2 <unk>=3) or unigram
    (T5-like: <pad>=0 </s>=1 <unk>=2) sentencepiece model at `path`."""
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(CORPUS * 20))
        common = dict(input=str(corpus), model_prefix=str(Path(tmp) / "sp"), vocab_size=vocab_size,
                      minloglevel=2, num_threads=1, character_coverage=1.0)  # fmt: skip
        if kind == "gemma":
            spm.SentencePieceTrainer.train(
                **common, model_type="bpe", byte_fallback=True, add_dummy_prefix=False,
                remove_extra_whitespaces=False, normalization_rule_name="identity",
                pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
                unk_piece="<unk>", user_defined_symbols=["<start_of_turn>", "<end_of_turn>", *_IMAGE_TOKENS.values()],
            )  # fmt: skip
        else:
            spm.SentencePieceTrainer.train(
                **common, model_type="unigram", hard_vocab_limit=False, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
            )  # fmt: skip
        shutil.copy(Path(tmp) / "sp.model", path)
    return path


def _randomise(model: torch.nn.Module, seed: int, scale: float) -> None:
    """Weights N(0, scale / sqrt(fan_in)) and norms near their identity, so every layer matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.ndim == 1:
                p.copy_(0.2 * noise + (1.0 if "layer_norm" in name and "vision" not in name else 0.0))
            else:
                p.copy_(noise * scale / p.shape[-1] ** 0.5)


def _rename_keys(path: Path, old: str, new: str) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    save_file({new + k[len(old) :] if k.startswith(old) else k: v for k, v in tensors.items()}, str(path))


def write_tiny_gemma(folder: str | Path, seed: int = 0) -> Path:
    """A Gemma-3 (Gemma3ForConditionalGeneration with a tiny vision tower) saved by transformers, with
    tokenizer.model, and the tokenizer.json / tokenizer_config.json / processor_config.json transformers
    writes from it (what ltx-core 1.2.0 reads)."""
    from transformers import (
        AutoTokenizer,
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessorPil,
        Gemma3Processor,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = dict(vocab_size=400, intermediate_size=48, num_attention_heads=2, num_key_value_heads=1, head_dim=12,
                sliding_window=64, sliding_window_pattern=2, max_position_embeddings=2048, query_pre_attn_scalar=12,
                rope_scaling={"rope_type": "linear", "factor": 8.0}, rope_theta=1e6, rope_local_base_freq=10000,
                **TINY_GEMMA)  # fmt: skip
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14)  # fmt: skip
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4))
    _randomise(model, seed, scale=1.0)
    model.save_pretrained(folder)
    _rename_keys(folder / "model.safetensors", "vision_tower.", "vision_tower.vision_model.")  # as google ships it
    train_sentencepiece(folder / "tokenizer.model", "gemma")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GemmaTokenizer", "add_bos_token": True, "add_eos_token": False, "pad_token": "<pad>",
        "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "padding_side": "left",
        "extra_special_tokens": _IMAGE_TOKENS}))  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(str(folder))  # converted from tokenizer.model by transformers
    image = Gemma3ImageProcessorPil(size={"height": 28, "width": 28})
    Gemma3Processor(image_processor=image, tokenizer=tokenizer, image_seq_length=4).save_pretrained(str(folder))
    return folder


def write_tiny_t5(folder: str | Path, seed: int = 0) -> Path:
    """A T5 encoder in the LTX-Video (PixArt) layout: text_encoder/ (transformers' T5EncoderModel) and
    tokenizer/ (spiece.model)."""
    from transformers import T5Config, T5EncoderModel

    folder = Path(folder)
    (folder / "tokenizer").mkdir(parents=True, exist_ok=True)
    config = T5Config(vocab_size=400, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                      feed_forward_proj="gated-gelu", relative_attention_num_buckets=8)  # fmt: skip
    torch.manual_seed(seed)
    model = T5EncoderModel(config)
    _randomise(model, seed, scale=1.0)
    model.save_pretrained(folder / "text_encoder")
    train_sentencepiece(folder / "tokenizer" / "spiece.model", "t5")
    (folder / "tokenizer" / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        "extra_ids": 0}))  # fmt: skip
    return folder
