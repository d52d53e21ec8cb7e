"""Tiny text-side files beyond the built-in checkpoints: LTX-2.5's pair (a Gemma-4 "with-proj" text encoder file
in either key layout, and a transformer-side file with the connectors), and an LTX-2.3-style text side whose audio
connector differs from the video one in depth and heads. Tensor names come from the official modules; Gemma-4's
from transformers' own save_pretrained; the tokenizer.json is trained here with the `tokenizers` library."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

import torch
from safetensors.torch import load_file, save_file

from ltx.parity.fixtures import TINY_GEMMA, random_value
from ltx.parity.oracle import official_module
from ltx.parity.text_fixtures import CORPUS

GEMMA4_VERSION = "gemma4-tiny-ltx-test"
# Special tokens of the tiny Gemma-4 tokenizer; the image / audio / video ones are the model's placeholders.
_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<|image|>", "<|audio|>", "<|video|>",
             "<start_of_turn>", "<end_of_turn>"]  # fmt: skip
GEMMA4_TINY = dict(  # text config: full-attention layers have a wider head (global_head_dim) than sliding ones
    hidden_size=32, intermediate_size=48, num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1,
    head_dim=8, global_head_dim=16, sliding_window=6, max_position_embeddings=2048,
    layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
)  # fmt: skip
GEMMA4_PROMPTS = ["A cat walks in the garden.", "  Waves crash on the rocks <|image|> at night, <eos> ok  ", ""]

# Text-side keys of config["transformer"]: an audio connector with its own depth and heads (its width, 2 x 10,
# equals the audio stream's, 4 x 5, as the projection requires).
_ASYMMETRIC = {
    "num_attention_heads": 4, "attention_head_dim": 8, "audio_num_attention_heads": 4, "audio_attention_head_dim": 5,
    "rope_type": "split", "frequencies_precision": "float64", "connector_positional_embedding_max_pos": [4096],
    "connector_num_attention_heads": 4, "connector_attention_head_dim": 8, "connector_num_layers": 2,
    "audio_connector_num_attention_heads": 2, "audio_connector_attention_head_dim": 10,
    "audio_connector_num_layers": 3, "connector_apply_gated_attention": True,
    "caption_proj_before_connector": True, "caption_projection_first_linear": False,
    "caption_proj_input_norm": False, "caption_projection_second_linear": False,
}  # fmt: skip
TEXT_2_3_ASYMMETRIC = _ASYMMETRIC
TEXT_2_5 = {**_ASYMMETRIC, "connector_ff_bias": False, "connector_apply_gated_attention": False}


def text_side_tensors(section: dict, hidden: int, layers: int) -> tuple[dict, dict]:
    """(connector tensors, projection tensors) named as in the files, from the official modules."""
    from ltx_core.text_encoders.gemma.embeddings_connector import (
        AudioEmbeddings1DConnectorConfigurator,
        Embeddings1DConnectorConfigurator,
    )
    from ltx_core.text_encoders.gemma.encoders.encoder_configurator import _create_feature_extractor

    config, gen = {"transformer": section}, torch.Generator().manual_seed(1)
    connectors = {}
    for stream, configurator in (("video", Embeddings1DConnectorConfigurator),
                                 ("audio", AudioEmbeddings1DConnectorConfigurator)):  # fmt: skip
        for k, v in official_module(configurator, config).state_dict().items():
            key = f"model.diffusion_model.{stream}_embeddings_connector.{k}"
            connectors[key] = random_value(key, v.shape, gen).contiguous()
    extractor = _create_feature_extractor(section, SimpleNamespace(hidden_size=hidden, num_hidden_layers=layers))
    projection = {f"text_embedding_projection.{k}": random_value(k, v.shape, gen).contiguous()
                  for k, v in extractor.state_dict().items()}  # fmt: skip
    return connectors, projection


def write_text_side(path: str | Path, section: dict = TEXT_2_3_ASYMMETRIC, version: str = "2.3.0") -> Path:
    """A file holding only an LTX-2.3-style text side (projection + connectors) for the tiny Gemma-3."""
    connectors, projection = text_side_tensors(section, TINY_GEMMA["hidden_size"], TINY_GEMMA["num_hidden_layers"])
    meta = {"config": json.dumps({"transformer": section}), "model_version": version}
    return _save({**connectors, **projection}, path, meta)


def write_connectors(path: str | Path, section: dict = TEXT_2_5, gemma_version: str | None = GEMMA4_VERSION) -> Path:
    """LTX-2.5's transformer-side text file (connectors and config; the projection is in the text encoder file)."""
    connectors, _ = text_side_tensors(section, GEMMA4_TINY["hidden_size"], GEMMA4_TINY["num_hidden_layers"])
    meta = {"config": json.dumps({"transformer": section}), "model_version": "2.5.0"}
    if gemma_version is not None:
        meta["gemma_source_checkpoint"] = json.dumps({"gemma_version": gemma_version})
    return _save(connectors, path, meta)


def gemma4_tokenizer() -> tuple[bytes, dict]:
    """(tokenizer.json, tokenizer_config.json) of a BPE tokenizer trained on the built-in corpus. Like
    Gemma-4's, it does not add <bos> itself."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="never")
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=_SPECIALS, show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer)
    config = {"tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
              "unk_token": "<unk>", "padding_side": "left", "model_max_length": 1000000}  # fmt: skip
    return tok.to_str().encode(), config


def gemma4_config(vocab: int) -> dict:
    from transformers import Gemma4UnifiedConfig

    placeholders = (("image_token_id", "<|image|>"), ("audio_token_id", "<|audio|>"), ("video_token_id", "<|video|>"))
    ids = {name: _SPECIALS.index(token) for name, token in placeholders}
    config = Gemma4UnifiedConfig(
        text_config={**GEMMA4_TINY, "vocab_size": vocab},
        vision_config={"patch_size": 2, "pooling_kernel_size": 2, "mm_embed_dim": 16, "mm_posemb_size": 8,
                       "output_proj_dims": 16},
        audio_config={"audio_embed_dim": 8},
        **ids,
    )  # fmt: skip
    return {**config.to_dict(), "gemma_version": GEMMA4_VERSION}


def _randomise_gemma4(model: torch.nn.Module, seed: int) -> None:
    """Gemma-4's norms scale by their weight (not 1 + weight): keep them near 1, and every layer_scalar too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            if t.device.type == "meta" or not t.is_floating_point() or "rotary" in name or "embed_scale" in name:
                continue
            noise = torch.randn(t.shape, generator=g)
            if t.ndim == 1 or name.endswith("layer_scalar"):
                t.copy_(1 + 0.2 * noise if not name.endswith(".bias") else 0.1 * noise)
            else:
                t.copy_(noise / t.shape[-1] ** 0.5)


def _flat(key: str) -> str:
    """A Hugging Face key of the with-proj file in ComfyUI's flat layout."""
    renames = (
        ("model.language_model.", "model."),
        ("model.vision_embedder.", "vision_model."),
        ("model.embed_vision.", "multi_modal_projector."),
        ("model.embed_audio.", "audio_projector."),
    )
    for old, new in renames:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def write_gemma4_file(path: str | Path, layout: str = "hf", seed: int = 0, drop: tuple[str, ...] = ()) -> Path:
    """A tiny LTX-2.5 text encoder file: Gemma-4 (written by transformers' save_pretrained) in the "hf" or
    "flat" key layout, the text projection for `TEXT_2_5`, tokenizer.json and its sidecars. `drop`: keys to
    leave out (for error tests)."""
    from transformers import Gemma4UnifiedConfig, Gemma4UnifiedForConditionalGeneration

    tokenizer_json, tokenizer_config = gemma4_tokenizer()
    config = gemma4_config(vocab=len(json.loads(tokenizer_json)["model"]["vocab"]))
    torch.manual_seed(seed)
    model = Gemma4UnifiedForConditionalGeneration(Gemma4UnifiedConfig.from_dict(config))
    _randomise_gemma4(model, seed)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        weights = load_file(str(Path(tmp) / "model.safetensors"))
    if layout == "flat":
        weights = {_flat(k): v for k, v in weights.items()}
    _, projection = text_side_tensors(TEXT_2_5, GEMMA4_TINY["hidden_size"], GEMMA4_TINY["num_hidden_layers"])
    assets = {"tokenizer_config.json": json.dumps(tokenizer_config).encode(),
              "processor_config.json": json.dumps({"processor_class": "Gemma4UnifiedProcessor"}).encode()}  # fmt: skip
    packed = {"tokenizer_json": tokenizer_json, **{f"hf_asset__{k}": v for k, v in assets.items()}}
    tensors = {
        **weights,
        **projection,
        **{k: torch.frombuffer(bytearray(v), dtype=torch.uint8) for k, v in packed.items()},
    }
    tensors = {k: v.contiguous() for k, v in tensors.items() if k not in drop}
    return _save(tensors, path, {"gemma_config": json.dumps(config)})


def _save(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path
