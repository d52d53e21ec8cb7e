"""Text-side parity against the official code: the feature extractor and every connector block from synthetic
Gemma hidden states (batch of two prompts of different lengths), and prompts -> contexts end to end through a
Gemma-3 folder or an LTX-2.5 Gemma-4 text encoder file. We run the batch at once; the official processor is run
both on the whole batch (ltx-core 1.2.0 batches) and one prompt at a time (as its pipelines call it)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.parity.compare import Row, compare_exact, compare_lowp
from ltx.parity.fixtures import TINY_GEMMA
from ltx.parity.hooks import capture
from ltx.parity.text_oracle import official_processor, run_processor
from ltx.text.processor import load_text_processor, projection_features

ONE_BY_ONE = " [official one prompt at a time]"


def hidden_state_inputs(seed: int, hidden: int, layers: int, tokens: int, lengths: tuple[int, ...] = (37, 201)):
    """`layers` + 1 tensors (B, tokens, hidden) with per-layer scales, and a left-padded (B, tokens) mask."""
    g = torch.Generator().manual_seed(seed)
    states = tuple(torch.randn(len(lengths), tokens, hidden, generator=g) * (1 + i) + i for i in range(layers + 1))
    mask = torch.zeros(len(lengths), tokens, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, tokens - n :] = 1
    return states, mask


def gemma_dims(path: str | os.PathLike, text_encoder: str | os.PathLike | None = None) -> tuple[int, int, int]:
    """(hidden, layers, tokens) of the Gemma a file's text side takes: from the text encoder file's config, or
    by the projection's width: Gemma-3-12B (1024 tokens, as the official pipelines pad to) or the built-in
    tiny Gemma-3 (256 tokens, two rounds of registers). Tiny text encoder files get 256 tokens too."""
    if text_encoder is not None:
        from ltx.text.encoder import gemma_source

        _, hidden, layers = gemma_source(text_encoder)
        return hidden, layers, 1024 if hidden >= 1024 else 256
    features = projection_features(Checkpoint(path))
    for hidden, layers, tokens in ((3840, 48, 1024), (TINY_GEMMA["hidden_size"], TINY_GEMMA["num_hidden_layers"], 256)):
        if features == hidden * (layers + 1):
            return hidden, layers, tokens
    raise CheckpointError(f"{path}: its text projection takes {features} features, from no Gemma-3 known here")


def stage_names(video_layers: int, audio_layers: int) -> dict[str, str]:
    """Our module names -> ltx-core's, for every compared stage (each connector with its own depth)."""
    names = {"text_embedding_projection": "feature_extractor"}
    for stream, layers in (("video", video_layers), ("audio", audio_layers)):
        for i in range(layers):
            names[f"{stream}_embeddings_connector.transformer_1d_blocks.{i}"] = (
                f"{stream}_connector.transformer_1d_blocks.{i}"
            )
    return names


def _ours_names(processor) -> dict[str, str]:
    audio = processor.cfg.audio.layers if processor.cfg.audio else 0
    return stage_names(processor.cfg.video.layers, audio)


def _official_names(module) -> dict[str, str]:
    audio = len(module.audio_connector.transformer_1d_blocks) if module.audio_connector is not None else 0
    return stage_names(len(module.video_connector.transformer_1d_blocks), audio)


def _record(module: torch.nn.Module, names: dict[str, str], call: Callable) -> dict[str, torch.Tensor]:
    """Stage outputs (under our names) and the three outputs of one run of `call`."""
    result = []
    got = capture(module, list(names.values()), lambda: result.append(call()) or result[0][0], "")
    back = {official: ours for ours, official in names.items()}
    out = {back[k[1:]]: v for k, v in got.items() if k != "/out"}
    return out | {
        f"out/{n}": t.detach().float().cpu() for n, t in zip(("video", "audio", "mask"), result[0], strict=True)
    }


def official_stages(module, states, mask) -> tuple[dict | None, dict]:
    """The official processor's stage outputs and outputs: (whole batch, one prompt at a time). ltx-core 1.0.0's
    connectors take one prompt at a time only: no whole-batch run then (None)."""
    from ltx.parity.oracle import at_least

    names = _official_names(module)
    batch = None
    if at_least("1.2.0"):
        batch = _record(module, names, lambda: run_processor(module, states, mask, one_by_one=False))
    per_prompt = []
    for b in range(mask.shape[0]):
        one = tuple(s[b : b + 1] for s in states)
        per_prompt.append(
            _record(module, names, lambda one=one, b=b: run_processor(module, one, mask[b : b + 1], False))
        )
    return batch, {k: torch.cat([p[k] for p in per_prompt]) for k in per_prompt[0]}


def text_parity(
    path: str | os.PathLike,
    *,
    text_encoder: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    seed: int = 0,
    edit_ours: Callable | None = None,
) -> list[Row]:
    """Features, every connector block and the final contexts of `path`'s text side (the projection from the
    with-proj `text_encoder` file for LTX-2.5), ours vs ltx-core's, batched and one prompt at a time."""
    device = torch.device(device)
    group = group or os.path.basename(str(path))
    hidden, layers, tokens = gemma_dims(path, text_encoder)
    states, mask = hidden_state_inputs(seed, hidden, layers, tokens)
    states, mask = tuple(s.to(device, dtype) for s in states), mask.to(device)
    dims = dict(gemma_hidden=hidden, gemma_layers=layers)

    def official(run_dtype: torch.dtype) -> tuple[dict, dict]:
        module = official_processor(path, device, run_dtype, text_encoder=text_encoder, **dims)
        return official_stages(module, tuple(s.to(run_dtype) for s in states), mask)

    ours = load_text_processor(path, text_encoder=text_encoder, device=device, dtype=dtype, **dims)
    if edit_ours is not None:
        edit_ours(ours)
    names = _ours_names(ours)
    got = _record(ours, {k: k for k in names}, lambda: ours(states, mask))
    if dtype == torch.float32:
        batch, per_prompt = official(dtype)
        rows = compare_exact(group, got, batch) if batch is not None else []
        return rows + compare_exact(group + ONE_BY_ONE, got, per_prompt)
    (batch, per_prompt), (batch32, per_prompt32) = official(dtype), official(torch.float32)
    rows = compare_lowp(group, got, batch, batch32) if batch is not None else []
    return rows + compare_lowp(group + ONE_BY_ONE, got, per_prompt, per_prompt32)


def gemma_parity(
    path: str | os.PathLike,
    text_encoder: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    prompts: list[str] | None = None,
    max_length: int = 1024,
    edit_ours: Callable | None = None,
) -> list[Row]:
    """Prompts -> tokens -> every Gemma hidden state -> features -> every connector block -> contexts, ours
    (our tokenizer, our strict Gemma-3 / Gemma-4 loader, our text side) vs ltx-core 1.2.0's own text encoder
    and embeddings processor built from the same files (Gemma-3 folder, or LTX-2.5's text encoder file)."""
    from ltx.parity.oracle import at_least, oracle_version
    from ltx.parity.text_fixtures import PROMPTS
    from ltx.parity.text_oracle import official_encode, official_text_encoder
    from ltx.text.encoder import TextEncoder

    if not at_least("1.2.0"):
        raise RuntimeError(
            f"prompts -> contexts parity needs ltx-core >= 1.2.0 as the oracle (have {oracle_version()})"
        )
    device, prompts = torch.device(device), prompts or PROMPTS
    group = group or f"{os.path.basename(str(path))} + {os.path.basename(str(text_encoder))}"
    ours = TextEncoder(text_encoder, path, device=device, dtype=dtype, max_length=max_length)
    if edit_ours is not None:
        edit_ours(ours)
    ids, mask = ours.gemma.tokenizer(prompts)
    got_states, _ = ours.gemma.encode(prompts)
    got = {"tokens/ids": ids, "tokens/mask": mask, **{f"gemma/hidden_states.{i}": h for i, h in enumerate(got_states)}}
    processor = ours.processor
    got |= _record(processor, {k: k for k in _ours_names(processor)}, lambda: processor(got_states, mask.to(device)))
    del ours

    encoder = official_text_encoder(text_encoder, device, dtype)
    ref_ids, ref_mask, ref_states = official_encode(encoder, prompts)
    del encoder
    ref = {"tokens/ids": ref_ids, "tokens/mask": ref_mask}
    ref |= {f"gemma/hidden_states.{i}": h for i, h in enumerate(ref_states)}
    module = official_processor(path, device, dtype, text_encoder=text_encoder,
                                gemma_hidden=ref_states[0].shape[-1], gemma_layers=len(ref_states) - 1)  # fmt: skip
    batch, per_prompt = official_stages(module, ref_states, ref_mask)
    as_cpu = lambda d: {k: v.detach().float().cpu() for k, v in d.items()}  # noqa: E731
    got, ref = as_cpu(got), as_cpu(ref | batch)
    stages = {k: got[k] for k in per_prompt}
    return compare_exact(group, got, ref) + compare_exact(group + ONE_BY_ONE, stages, as_cpu(per_prompt))


def t5_parity(
    t5_folder: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    prompts: list[str] | None = None,
    max_length: int = 256,
) -> list[Row]:
    """LTX-Video's prompt encoding, ours vs ltx-video's encode_prompt with transformers' T5."""
    from ltx.parity.oracle import official_t5_encode
    from ltx.parity.text_fixtures import PROMPTS
    from ltx.text.t5 import T5

    device, prompts = torch.device(device), prompts or PROMPTS
    ours = T5(t5_folder, device=device, dtype=dtype, max_length=max_length)
    ids, mask = ours.tokenizer(prompts)
    embeds, _ = ours.encode(prompts)
    ref_ids, ref_mask, ref_embeds = official_t5_encode(t5_folder, prompts, device, dtype, max_length)
    got = {"tokens/ids": ids, "tokens/mask": mask, "out/embeddings": embeds}
    ref = {"tokens/ids": ref_ids, "tokens/mask": ref_mask, "out/embeddings": ref_embeds}
    as_cpu = lambda d: {k: v.detach().float().cpu() for k, v in d.items()}  # noqa: E731
    return compare_exact(group or f"T5 {os.path.basename(str(t5_folder))}", as_cpu(got), as_cpu(ref))


def builtin_text_jobs(folder: Path, parts: set[str], common: dict, gemma3: Path | None) -> list[tuple[str, Callable]]:
    """`ltx parity` jobs for the built-in text-side files beyond the tiny checkpoints: LTX-2.5's pair (a tiny
    Gemma-4 with-proj file in both key layouts + a transformer-side connectors file) and an LTX-2.3-style text
    side with asymmetric connectors. (group, run(group) -> rows) each."""
    from ltx.parity.text_files import (
        GEMMA4_PROMPTS,
        write_connectors,
        write_gemma4_file,
        write_text_side,
    )

    jobs = []
    if not parts & {"text", "gemma"}:
        return jobs
    asym = write_text_side(folder / "ltx-2.3-asymmetric-text-tiny.safetensors")
    print("built-in text side ltx-2.3-asymmetric-text-tiny: audio connector 3 blocks x 2 heads, video 2 x 4")
    pair = write_connectors(folder / "ltx-2.5-connectors-tiny.safetensors")
    te = {layout: write_gemma4_file(folder / f"gemma4-tiny-with-proj-{layout}.safetensors", layout=layout)
          for layout in ("hf", "flat")}  # fmt: skip
    print("built-in LTX-2.5 text: Gemma-4 (gemma4_unified, 4 layers of 32 channels, tokenizer.json trained here) "
          "with-proj files in the HF and ComfyUI key layouts; connectors without FF biases")  # fmt: skip
    if "text" in parts:
        jobs.append((f"{asym.stem} text side", lambda g: text_parity(asym, **common, group=g)))
        jobs.append((f"{pair.stem} + {te['hf'].stem} text side",
                     lambda g: text_parity(pair, text_encoder=te["hf"], **common, group=g)))  # fmt: skip
    if "gemma" in parts:
        if gemma3 is not None:
            jobs.append((f"{asym.stem} + {gemma3.name}", lambda g: gemma_parity(asym, gemma3, **common, group=g)))
        for layout, path in te.items():
            run = lambda g, p=path: gemma_parity(pair, p, **common, group=g, prompts=GEMMA4_PROMPTS)  # noqa: E731
            jobs.append((f"{pair.stem} + {path.stem} ({layout} layout)", run))
    return jobs
