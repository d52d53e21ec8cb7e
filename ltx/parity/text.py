"""Text-side parity: the feature extractor and the embeddings connectors against ltx-core, from
synthetic Gemma hidden states (ltx-core's Gemma wrapper needs transformers 4.x), for a batch of two
prompts of different lengths (ltx-core runs one prompt at a time; we run the batch at once)."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.parity.compare import Row, compare_exact, compare_lowp
from ltx.parity.fixtures import TINY_GEMMA
from ltx.parity.hooks import capture
from ltx.parity.oracle import OfficialTextProcessor
from ltx.text.processor import load_text_processor, projection_features


def hidden_state_inputs(seed: int, hidden: int, layers: int, tokens: int, lengths: tuple[int, ...] = (37, 201)):
    """`layers` + 1 tensors (B, tokens, hidden) with per-layer scales, and a left-padded (B, tokens) mask."""
    g = torch.Generator().manual_seed(seed)
    states = tuple(torch.randn(len(lengths), tokens, hidden, generator=g) * (1 + i) + i for i in range(layers + 1))
    mask = torch.zeros(len(lengths), tokens, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, tokens - n :] = 1
    return states, mask


def gemma_dims(path: str | os.PathLike) -> tuple[int, int, int]:
    """(hidden, layers, tokens) of the Gemma a file's text side takes: Gemma-3-12B (1024 tokens, as the
    official pipelines pad to) or the built-in tiny one (256 tokens, two sets of registers)."""
    features = projection_features(Checkpoint(path))
    for hidden, layers, tokens in ((3840, 48, 1024), (TINY_GEMMA["hidden_size"], TINY_GEMMA["num_hidden_layers"], 256)):
        if features == hidden * (layers + 1):
            return hidden, layers, tokens
    raise CheckpointError(f"{path}: its text projection takes {features} features, from no Gemma-3 known here")


def _stage_names(layers: int) -> dict[str, str]:
    """Our module names -> ltx-core's, for every compared stage."""
    names = {"text_embedding_projection": "feature_extractor"}
    for stream in ("video", "audio"):
        for i in range(layers):
            names[f"{stream}_embeddings_connector.transformer_1d_blocks.{i}"] = (
                f"{stream}_connector.transformer_1d_blocks.{i}"
            )
    return names


def _record(module: torch.nn.Module, names: dict[str, str], call: Callable) -> dict[str, torch.Tensor]:
    """Stage outputs (under our names) and the three outputs of one run of `call`."""
    result = []
    got = capture(module, list(names.values()), lambda: result.append(call()) or result[0][0], "")
    back = {official: ours for ours, official in names.items()}
    out = {back[k[1:]]: v for k, v in got.items() if k != "/out"}
    return out | {
        f"out/{n}": t.detach().float().cpu() for n, t in zip(("video", "audio", "mask"), result[0], strict=True)
    }


def text_parity(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    seed: int = 0,
    edit_ours: Callable | None = None,
) -> list[Row]:
    """Features, every connector block and the final contexts of `path`'s text side, ours vs ltx-core's."""
    device = torch.device(device)
    group = group or os.path.basename(str(path))
    hidden, layers, tokens = gemma_dims(path)
    states, mask = hidden_state_inputs(seed, hidden, layers, tokens)
    states, mask = tuple(s.to(device, dtype) for s in states), mask.to(device)
    dims = dict(gemma_hidden=hidden, gemma_layers=layers)

    def official(run_dtype: torch.dtype) -> dict[str, torch.Tensor]:
        module = OfficialTextProcessor(path, device, run_dtype, **dims).module
        names = _stage_names(len(module.video_connector.transformer_1d_blocks))
        per_prompt = []
        for b in range(mask.shape[0]):  # ltx-core's connectors take one prompt at a time
            one = tuple(s[b : b + 1].to(run_dtype) for s in states)
            run = lambda one=one, b=b: module.process_hidden_states(one, mask[b : b + 1])  # noqa: E731
            per_prompt.append(_record(module, names, run))
        return {k: torch.cat([p[k] for p in per_prompt]) for k in per_prompt[0]}

    ours = load_text_processor(path, device=device, dtype=dtype, **dims)
    if edit_ours is not None:
        edit_ours(ours)
    names = _stage_names(ours.cfg.video.layers)
    got = _record(ours, {k: k for k in names}, lambda: ours(states, mask))
    if dtype == torch.float32:
        return compare_exact(group, got, official(dtype))
    return compare_lowp(group, got, official(dtype), official(torch.float32))


def gemma_parity(
    path: str | os.PathLike,
    gemma_folder: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    group: str | None = None,
    prompts: list[str] | None = None,
    max_length: int = 1024,
) -> list[Row]:
    """Prompts -> contexts end to end: ours (sentencepiece, our strict Gemma loader, our text side) vs
    the official tokenizer + transformers' Gemma3 from_pretrained + ltx-core's text side, prompt by prompt."""
    from ltx.parity.oracle import official_gemma_states
    from ltx.parity.text_fixtures import PROMPTS
    from ltx.text.encoder import TextEncoder

    device, prompts = torch.device(device), prompts or PROMPTS
    group = group or f"{os.path.basename(str(path))} + {os.path.basename(str(gemma_folder))}"
    ours = TextEncoder(gemma_folder, path, device=device, dtype=dtype, max_length=max_length)
    ids, mask = ours.gemma.tokenizer(prompts)
    states, _ = ours.gemma.encode(prompts)
    got = {"tokens/ids": ids, "tokens/mask": mask, **{f"gemma/hidden_states.{i}": h for i, h in enumerate(states)}}
    got |= {f"out/{k}": v for k, v in ours.encode(prompts)._asdict().items()}
    del ours

    ref_ids, ref_mask, ref_states = official_gemma_states(gemma_folder, prompts, device, dtype, max_length)
    ref = {"tokens/ids": ref_ids, "tokens/mask": ref_mask}
    ref |= {f"gemma/hidden_states.{i}": h for i, h in enumerate(ref_states)}
    hidden, layers = ref_states[0].shape[-1], len(ref_states) - 1
    official = OfficialTextProcessor(path, device, dtype, gemma_hidden=hidden, gemma_layers=layers)
    ref |= dict(zip(("out/video", "out/audio", "out/mask"), official(ref_states, ref_mask), strict=True))
    got = {k: v.detach().float().cpu() for k, v in got.items()}
    return compare_exact(group, got, {k: v.detach().float().cpu() for k, v in ref.items()})


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
