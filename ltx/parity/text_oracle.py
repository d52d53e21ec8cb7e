"""The official text side as a test oracle: ltx-core's embeddings processor (feature extractor + connectors)
loaded by its own builder and key ops, and (ltx-core >= 1.2.0) its Gemma text encoder built as the
ltx-pipelines PromptEncoder builds it, from a Gemma-3 folder or an LTX-2.5 text encoder file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import torch

from ltx.parity.oracle import at_least, official_module, official_text_processor_module, require


def _processor_module(config: dict, hidden: int, layers: int) -> torch.nn.Module:
    """The official EmbeddingsProcessor for `config` and a Gemma of `layers` layers of width `hidden`: 1.2.0's
    own feature-extractor choice and connector configurators (1.0.0: the same modules, chosen here)."""
    if not at_least("1.2.0"):
        return official_text_processor_module(config, hidden, layers)
    conf = require("ltx_core.text_encoders.gemma.encoders.encoder_configurator")
    conn = require("ltx_core.text_encoders.gemma.embeddings_connector")
    processor = require("ltx_core.text_encoders.gemma.embeddings_processor").EmbeddingsProcessor
    extractor = conf._create_feature_extractor(
        config.get("transformer", {}), SimpleNamespace(hidden_size=hidden, num_hidden_layers=layers)
    )
    return processor(
        feature_extractor=extractor,
        video_connector=official_module(conn.Embeddings1DConnectorConfigurator, config),
        audio_connector=official_module(conn.AudioEmbeddings1DConnectorConfigurator, config),
    )


def _build(paths: tuple[str, ...], configurator, sd_ops, device, dtype, module_ops=()) -> torch.nn.Module:
    builder = require("ltx_core.loader.single_gpu_model_builder").SingleGPUModelBuilder
    model = builder(model_path=paths if len(paths) > 1 else paths[0], model_class_configurator=configurator,
                    model_sd_ops=sd_ops, module_ops=tuple(module_ops))  # fmt: skip
    model = model.build(device=device, dtype=dtype).eval()
    left = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.device.type == "meta"]
    if left:  # the official builder warns and returns a half-built model; a comparison with it means nothing
        raise RuntimeError(f"ltx-core left {len(left)} tensors unloaded, e.g. {left[:5]}")
    return model


def official_processor(
    path: str | os.PathLike,
    device: torch.device,
    dtype: torch.dtype,
    *,
    gemma_hidden: int,
    gemma_layers: int,
    text_encoder: str | os.PathLike | None = None,
) -> torch.nn.Module:
    """ltx-core's EmbeddingsProcessor of `path` (+ a with-proj `text_encoder` file, read after it, as the
    official split layout reads them). Given a text encoder (that file, or a Gemma-3 folder), the official
    configurator takes the Gemma dimensions from it and checks the Gemma version, as the pipelines do; without
    one (synthetic hidden states) the same modules are built for `gemma_hidden` x `gemma_layers`."""
    key_ops = require("ltx_core.text_encoders.gemma").EMBEDDINGS_PROCESSOR_KEY_OPS
    packed = text_encoder is not None and Path(text_encoder).is_file()
    paths = (str(path), str(text_encoder)) if packed else (str(path),)
    if text_encoder is not None:
        configurator = require("ltx_core.text_encoders.gemma").EmbeddingsProcessorConfigurator
        return _build(paths, configurator.with_gemma_model_path(str(text_encoder)), key_ops, device, dtype)

    class Configurator:
        @classmethod
        def from_config(cls, config: dict) -> torch.nn.Module:  # ltx-core 1.0.0
            return _processor_module(config, gemma_hidden, gemma_layers)

        @classmethod
        def from_metadata(cls, metadata: dict) -> torch.nn.Module:  # 1.2.0
            return cls.from_config(metadata.get("config", {}))

    return _build(paths, Configurator, key_ops, device, dtype)


def run_processor(module, hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, one_by_one: bool):
    """(video, audio, mask) of the official processor, on the whole batch (1.2.0 batches) or one prompt at a
    time (as the pipelines call it, and as 1.0.0's connectors require)."""
    with torch.no_grad():
        if not one_by_one:
            return tuple(module.process_hidden_states(tuple(hidden_states), mask, "left"))
        outs = [module.process_hidden_states(tuple(h[b : b + 1] for h in hidden_states), mask[b : b + 1], "left")
                for b in range(mask.shape[0])]  # fmt: skip
    return tuple(torch.cat([o[i] for o in outs]) for i in range(3))


def official_text_encoder(text_encoder: str | os.PathLike, device: torch.device, dtype: torch.dtype):
    """ltx-core 1.2.0's LTXGemmaTextEncoder for a Gemma-3 folder or a Gemma-4 text encoder file, built with the
    key ops, buffer population and tokenizer op of `get_gemma_ops`, as ltx-pipelines' PromptEncoder builds it.
    The processor op is left out: the processor serves prompt enhancement only, and Gemma-4's needs
    torchvision, which is not a dependency here."""
    gemma = require("ltx_core.text_encoders.gemma")
    path = str(Path(text_encoder))
    sd_ops, module_ops = gemma.get_gemma_ops(path)
    module_ops = [op for op in module_ops if op.name != "ProcessorLoad"]
    configurator = gemma.GemmaTextEncoderConfigurator.with_gemma_model_path(path)
    paths = tuple(gemma.resolve_gemma_weight_paths(path))
    return _build(paths, configurator, sd_ops, device, dtype, module_ops)


def official_encode(encoder, prompts: Sequence[str]):
    """(ids, mask, hidden states) of the official encoder: its tokenizer, one batched Gemma forward."""
    ids, mask = [], []
    for prompt in prompts:
        pairs = encoder.tokenizer.tokenize_with_weights(prompt)["gemma"]
        ids.append(torch.tensor([int(t) for t, _ in pairs]))
        mask.append(torch.tensor([int(w) for _, w in pairs]))
    with torch.no_grad():
        per_prompt = encoder.encode(list(prompts))
    states = tuple(torch.cat([p[0][i] for p in per_prompt]) for i in range(len(per_prompt[0][0])))
    return torch.stack(ids), torch.cat([p[1] for p in per_prompt]), states
