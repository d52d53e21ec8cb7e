"""Inputs for the pipeline comparisons: a bf16 copy of a tiny checkpoint (ltx-core fuses LoRAs only into
bf16 or fp8 weights), a tiny distilled LoRA and an IC-LoRA in the ComfyUI format, prompt embeddings,
an image, a video with audio, and an audio file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ltx.checkpoint import FP8_DTYPES, Checkpoint
from ltx.dit.loading import transformer_config
from ltx.text.encoder import save_prompt_embeddings
from ltx.text.processor import PromptEmbeddings


def write_bf16_copy(src: str | Path, dst: str | Path, model_version: str | None = None) -> Path:
    """`src` with its float weights in bf16 (and, if given, another `model_version` in its metadata)."""
    ckpt = Checkpoint(src)
    tensors = {}
    for k in ckpt.tensors:
        t = ckpt.tensor(k)
        tensors[k] = t.to(torch.bfloat16) if t.is_floating_point() and t.dtype not in FP8_DTYPES else t.clone()
    metadata = dict(ckpt.metadata)
    if model_version is not None:
        metadata["model_version"] = model_version
    save_file(tensors, str(dst), metadata=metadata)
    return Path(dst)


def write_tiny_lora(checkpoint: str | Path, dst: str | Path, seed: int, *, rank: int = 2, every: int = 3,
                    metadata: dict[str, str] | None = None) -> Path:  # fmt: skip
    """A LoRA (bf16, `diffusion_model.` keys) on every `every`-th 2-D transformer weight of `checkpoint`."""
    ckpt = Checkpoint(checkpoint)
    prefix = "model.diffusion_model."
    keys = [k for k in ckpt.components["transformer"] if k.endswith(".weight") and len(ckpt.tensors[k].shape) == 2]
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for key in keys[::every]:
        out_f, in_f = ckpt.tensors[key].shape
        layer = "diffusion_model." + key[len(prefix) : -len(".weight")]
        tensors[f"{layer}.lora_A.weight"] = (torch.randn(rank, in_f, generator=g) / math.sqrt(in_f)).bfloat16()
        tensors[f"{layer}.lora_B.weight"] = (0.3 * torch.randn(out_f, rank, generator=g)).bfloat16()
    save_file(tensors, str(dst), metadata=metadata)
    return Path(dst)


def write_prompt_file(checkpoint: str | Path, dst: str | Path, prompts: list[str], seed: int, tokens: int = 32) -> Path:
    """Random contexts of the checkpoint's widths for `prompts` (one row each), in `ltx encode`'s format."""
    cfg = transformer_config(Checkpoint(checkpoint))
    video_dim = cfg.inner_dim if cfg.caption_proj_before_connector else cfg.caption_channels
    audio_dim = cfg.audio_inner_dim if cfg.caption_proj_before_connector else cfg.caption_channels
    g = torch.Generator().manual_seed(seed)
    n = len(prompts)
    embeddings = PromptEmbeddings(
        torch.randn(n, tokens, video_dim, generator=g),
        torch.randn(n, tokens, audio_dim, generator=g) if cfg.has_audio else None,
        torch.ones(n, tokens, dtype=torch.long),
    )
    save_prompt_embeddings(dst, embeddings, prompts, model="ltx-2", checkpoint=str(checkpoint))
    return Path(dst)


def pattern_image(height: int = 100, width: int = 140, seed: int = 0) -> np.ndarray:
    """A smooth RGB image with some texture (uint8)."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    rgb = np.stack([np.sin(6 * x + 1), np.cos(5 * y), np.sin(4 * (x + y))], -1) * 0.4 + 0.5
    rgb = rgb + 0.05 * rng.standard_normal(rgb.shape)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def write_test_image(dst: str | Path, **kwargs) -> Path:
    from PIL import Image

    Image.fromarray(pattern_image(**kwargs)).save(dst)
    return Path(dst)


def write_test_video(dst: str | Path, frames: int, height: int, width: int, fps: float, audio: bool = True) -> Path:
    """A moving pattern with a stereo tone track (AAC, 44.1 kHz)."""
    from ltx.media import write_mp4
    from ltx.parity.audio import tone_clip

    video = torch.stack([torch.from_numpy(np.roll(pattern_image(height, width), 3 * i, axis=1)) for i in range(frames)])
    waveform = tone_clip(frames / fps + 0.2, 44100)[0] if audio else None
    return write_mp4(dst, video, fps, waveform, 44100 if audio else None)


def write_test_audio(dst: str | Path, seconds: float, rate: int = 44100) -> Path:
    from ltx.audio import write_wav
    from ltx.parity.audio import tone_clip

    write_wav(dst, tone_clip(seconds, rate)[0], rate)
    return Path(dst)


def write_tiny_dataset(checkpoint: str | Path, folder: str | Path, *, samples: int = 2, frames: int = 2,
                       height: int = 2, width: int = 3, audio: bool = True, reference: bool = True,
                       text: int = 8, seed: int = 0) -> Path:  # fmt: skip
    """A dataset in ltx-trainer 1.2.0's preprocessed layout (latents/, conditions/ with the feature extractor's
    outputs, audio_latents/, reference_latents/ at half size) for `checkpoint`'s text side."""
    from ltx.text.processor import load_connectors

    proc = load_connectors(Checkpoint(checkpoint))
    video_dim = proc.video_embeddings_connector.cfg.dim
    audio_dim = proc.audio_embeddings_connector.cfg.dim if proc.audio_embeddings_connector is not None else None
    folder = Path(folder)
    g = torch.Generator().manual_seed(seed)
    for i in range(samples):
        name = f"clip_{i:03d}.pt"
        entries = {"latents": {"latents": torch.randn(128, frames, height, width, generator=g), "num_frames": frames,
                               "height": height, "width": width, "fps": 24.0}}  # fmt: skip
        mask = torch.ones(text, dtype=torch.bool)
        mask[text - 1 - i % 3 :] = False
        cond = {"video_prompt_embeds": torch.randn(text, video_dim, generator=g), "prompt_attention_mask": mask}
        if audio_dim:
            cond["audio_prompt_embeds"] = torch.randn(text, audio_dim, generator=g)
        entries["conditions"] = cond
        if audio:
            entries["audio_latents"] = {"latents": torch.randn(8, 5, 16, generator=g), "num_time_steps": 5}
        if reference:
            r = torch.randn(128, frames, max(1, height // 2), max(1, width // 2), generator=g)
            entries["reference_latents"] = {
                "latents": r,
                "num_frames": frames,
                "height": r.shape[2],
                "width": r.shape[3],
            }
        for source, value in entries.items():
            (folder / source).mkdir(parents=True, exist_ok=True)
            torch.save(value, folder / source / name)
    return folder
