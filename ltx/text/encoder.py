"""Prompts -> the contexts an LTX-2 transformer attends to: the Gemma hidden states (Gemma-3 from a folder for
LTX-2.0 / 2.3, Gemma-4 from LTX-2.5's text encoder file) through the feature extractor and connectors. Also the
prompt-embedding cache: encode once, save, and generate later without loading the 24 GB text encoder."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.text.gemma import Gemma, gemma_text_config
from ltx.text.gemma4 import Gemma4, read_gemma_file
from ltx.text.hf import read_json
from ltx.text.processor import PromptEmbeddings, load_text_processor, text_config

_CACHE_KIND = "ltx-prompt-embeddings"
# From this model_version on, a checkpoint must name the Gemma it was trained with (gemma_source_checkpoint).
_NAMED_GEMMA_SINCE = (2, 4, 0)


def _leading_version(version: str | None) -> tuple[int, ...]:
    """The leading integer parts of a dot-separated model_version ("2.3.rc1" -> (2, 3), "2.5-rc1" -> (2,)), as
    the official text-encoder check reads it."""
    parts = []
    for part in str(version or "").split("."):
        if not (part.isascii() and part.isdigit()):
            break
        parts.append(int(part))
    return tuple(parts)


def check_gemma_version(ckpt: Checkpoint, gemma: dict, source: str | os.PathLike) -> None:
    """The checkpoint's `gemma_source_checkpoint.gemma_version` must equal the Gemma config's `gemma_version`
    (LTX-2.5). Without that field, a model_version >= 2.4 is an error (unless the Gemma names no version either,
    which the official code lets pass with a warning) and an older checkpoint needs a Gemma-3."""
    raw = ckpt.metadata.get("gemma_source_checkpoint")
    have = gemma.get("gemma_version")
    if raw is not None:
        try:
            wanted = json.loads(raw).get("gemma_version")
        except (ValueError, AttributeError):
            raise CheckpointError(f"{ckpt.path}: its gemma_source_checkpoint metadata is not a JSON object") from None
        if wanted != have:
            raise CheckpointError(
                f"{ckpt.path} was trained with the Gemma gemma_version={wanted!r}, but {source} is "
                f"gemma_version={have!r}: use the text encoder file released with this checkpoint"
            )
        return
    version = ckpt.model_version
    if _leading_version(version) >= _NAMED_GEMMA_SINCE:
        if have is not None:
            raise CheckpointError(
                f"{ckpt.path}: model_version {version} must name its Gemma (gemma_source_checkpoint metadata), "
                f"and it does not; {source} is gemma_version={have!r}. The file is incomplete or not an LTX-2.5 one"
            )
        warnings.warn(f"{ckpt.path} and {source} name no Gemma version: their match is not checked", stacklevel=2)
        return
    if gemma.get("model_type") not in ("gemma3", "gemma3_text"):
        raise CheckpointError(
            f"{ckpt.path} (model_version {version}) takes Gemma-3, but {source} is a "
            f"{gemma.get('model_type')!r} model: pass the Gemma-3 folder (e.g. google/gemma-3-12b-it)"
        )


def gemma_source(path: str | os.PathLike) -> tuple[dict, int, int]:
    """(Hugging Face config, hidden size, layers) of a Gemma-3 folder or a Gemma text encoder file, read
    without loading any weight."""
    p = Path(path)
    if p.is_dir():
        text = gemma_text_config(p)
        return read_json(p / "config.json", "Gemma-3"), text.hidden_size, text.num_hidden_layers
    if not p.is_file():
        raise CheckpointError(
            f"{p}: no such Gemma folder or text encoder file. Pass a local Gemma-3 folder (LTX-2.0 / 2.3) or "
            "LTX-2.5's Gemma-4 text encoder file"
        )
    _, config = read_gemma_file(p)
    text = config.get("text_config") or {}
    if "hidden_size" not in text or "num_hidden_layers" not in text:
        raise CheckpointError(f"{p}: its gemma_config has no text_config with hidden_size and num_hidden_layers")
    return config, text["hidden_size"], text["num_hidden_layers"]


class TextEncoder:
    """A Gemma (a Gemma-3 folder, or LTX-2.5's Gemma-4 text encoder file, which also holds the text projection)
    and the text side of the LTX-2 `checkpoint`, on one device. Mismatched pairs are refused before loading."""

    def __init__(
        self,
        text_encoder: str | os.PathLike,
        checkpoint: str | os.PathLike | Checkpoint,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        max_length: int = 1024,
        gpu_memory: float | None = None,
    ):
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(checkpoint)
        text_config(ckpt)  # a file without a text side (e.g. the text encoder file given twice) says so first
        config, hidden, layers = gemma_source(text_encoder)
        check_gemma_version(ckpt, config, text_encoder)
        packed = Path(text_encoder).is_file()
        self.processor = load_text_processor(ckpt, text_encoder=text_encoder if packed else None, device=device,
                                             dtype=dtype, gemma_hidden=hidden, gemma_layers=layers)  # fmt: skip
        if gpu_memory is not None and packed:
            raise ValueError("streaming the text encoder under a GPU memory budget is built for Gemma-3 folders; "
                             "encode LTX-2.5's prompts with `ltx encode` first, then pass --prompts")  # fmt: skip
        if packed:
            self.gemma = Gemma4(text_encoder, device=device, dtype=dtype, max_length=max_length)
        else:
            self.gemma = Gemma(text_encoder, device=device, dtype=dtype, max_length=max_length, gpu_memory=gpu_memory)

    @torch.inference_mode()
    def encode(self, prompts: str | list[str]) -> PromptEmbeddings:
        """A batch of prompts (each may have its own length) -> video and audio contexts and their mask."""
        hidden, mask = self.gemma.encode(prompts)
        return self.processor(hidden, mask)

    def unload_gemma(self) -> None:
        """Free Gemma (most of the memory) once the prompts are encoded."""
        if getattr(self.gemma, "streamer", None) is not None:
            self.gemma.streamer.close()
        del self.gemma.model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def save_prompt_embeddings(path: str | os.PathLike, embeddings: PromptEmbeddings, prompts: list[str], **info) -> None:
    """Write the embeddings of `prompts` (and `info`, e.g. the checkpoint they are for) to a safetensors file."""
    from safetensors.torch import save_file

    tensors = {"video": embeddings.video, "mask": embeddings.mask}
    if embeddings.audio is not None:
        tensors["audio"] = embeddings.audio
    if len(prompts) != embeddings.video.shape[0]:
        raise ValueError(f"{len(prompts)} prompts for a batch of {embeddings.video.shape[0]} embeddings")
    meta = {"kind": _CACHE_KIND, "prompts": json.dumps(prompts), "info": json.dumps(info)}
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path), metadata=meta)


def load_prompt_embeddings(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[PromptEmbeddings, list[str], dict]:
    """(embeddings, prompts, info) saved by `save_prompt_embeddings` (`ltx encode`)."""
    ckpt = Checkpoint(path)
    if ckpt.metadata.get("kind") != _CACHE_KIND or "video" not in ckpt.tensors or "mask" not in ckpt.tensors:
        raise CheckpointError(f"{path}: not a prompt-embeddings file (write one with `ltx encode`)")

    def get(name: str) -> torch.Tensor:
        t = ckpt.tensor(name).clone()
        return t.to(device, dtype) if dtype is not None and t.is_floating_point() else t.to(device)

    audio = get("audio") if "audio" in ckpt.tensors else None
    embeddings = PromptEmbeddings(get("video"), audio, get("mask"))
    return embeddings, json.loads(ckpt.metadata["prompts"]), json.loads(ckpt.metadata.get("info", "{}"))
