"""Prompts -> the contexts an LTX-2 transformer attends to: Gemma-3 hidden states through the
checkpoint's feature extractor and connectors. Also the prompt-embedding cache: encode once, save,
and generate later without loading the 24 GB text encoder."""

from __future__ import annotations

import json
import os

import torch

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.text.gemma import Gemma
from ltx.text.processor import PromptEmbeddings, load_text_processor

_CACHE_KIND = "ltx-prompt-embeddings"


class TextEncoder:
    """Gemma-3 from `gemma_folder` and the text side of the LTX-2 checkpoint, on one device."""

    def __init__(
        self,
        gemma_folder: str | os.PathLike,
        checkpoint: str | os.PathLike | Checkpoint,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        max_length: int = 1024,
    ):
        self.gemma = Gemma(gemma_folder, device=device, dtype=dtype, max_length=max_length)
        self.processor = load_text_processor(
            checkpoint, device=device, dtype=dtype, gemma_hidden=self.gemma.hidden_size, gemma_layers=self.gemma.layers
        )

    @torch.inference_mode()
    def encode(self, prompts: str | list[str]) -> PromptEmbeddings:
        """A batch of prompts (each may have its own length) -> video and audio contexts and their mask."""
        hidden, mask = self.gemma.encode(prompts)
        return self.processor(hidden, mask)

    def unload_gemma(self) -> None:
        """Free Gemma (most of the memory) once the prompts are encoded."""
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
