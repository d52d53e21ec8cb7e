"""What an LTX file is, and the check each loader makes before it reads one.

LTX-2 and 2.3 ship one single file per model (transformer, text connectors and projection, video VAE,
audio VAE, vocoder). LTX-2.5 ships one file per component: a transformer-only file (its `config` has a
`transformer` section and no `vae` / `audio_vae` / `vocoder` one), a Gemma text-encoder file with the
LTX text projection and the tokenizer packed inside, video VAE files (bare `encoder.*` / `decoder.*`
keys), an audio VAE file (`audio_vae.*` and `vocoder.*`), latent upsamplers, a duration head and LoRAs.
A file is recognised by its keys first and its metadata second; `expect(file, slot)` turns a file given
for the wrong slot into an error that says what the file is and which file the slot takes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ltx.checkpoint import Checkpoint, CheckpointError
from ltx.config.ltxv import is_ltxv

KINDS: dict[str, str] = {
    "single-file": "a single-file LTX checkpoint",
    "transformer": "a transformer-only file",
    "text-encoder": "a Gemma text-encoder file",
    "video-vae": "a video VAE file",
    "audio-vae": "an audio VAE file",
    "upsampler": "a latent upsampler file",
    "duration-head": "a duration head file",
    "lora": "a LoRA file",
    "unknown": "no LTX component this program knows",
}
_VAES = {"video_vae", "audio_vae", "vocoder"}
_LABELS = {  # components in words, in the order a description lists them
    "transformer": "transformer",
    "text_connectors": "text connectors",
    "text_projection": "text projection",
    "video_vae": "video VAE",
    "audio_vae": "audio VAE",
    "vocoder": "vocoder",
    "duration_head": "duration head",
}


def file_kind(ckpt: Checkpoint) -> str:
    """One of KINDS, from the file's keys, then its metadata."""
    held = set(ckpt.components)
    if "lora" in held:
        return "lora"
    if "text_encoder" in held or "gemma_config" in ckpt.metadata:
        return "text-encoder"
    if held & {"transformer", "text_connectors"}:
        # A split pack's transformer states no VAE section; every single file states at least one.
        split = not (held & _VAES or set(ckpt.config) & {"vae", "audio_vae", "vocoder"})
        return "transformer" if split else "single-file"
    if "video_vae" in held:
        return "single-file" if held & {"audio_vae", "vocoder"} else "video-vae"
    if held & {"audio_vae", "vocoder"}:
        return "audio-vae"
    if "duration_head" in held:
        return "duration-head"
    if "upsampler" in held:
        return "upsampler"
    return "unknown"


def describe(ckpt: Checkpoint) -> str:
    """The kind in words, with what tells this file apart: 'an audio VAE file (LTX 2.5.0; audio VAE +
    vocoder with bandwidth extension)'."""
    kind, held = ckpt.kind, set(ckpt.components)
    details = [f"LTX {ckpt.model_version}"] if ckpt.model_version else []
    named = " + ".join(label for n, label in _LABELS.items() if n in held)
    if is_ltxv(ckpt.section("transformer")):
        details.append("LTX-Video 0.9.x: single-stream transformer, T5 text")
    if kind == "single-file":
        details.append(named)
    elif kind == "transformer":
        details.append(f"split layout: {named}, no VAE or vocoder")
    elif kind == "text-encoder":
        gemma = _json(ckpt.metadata.get("gemma_config"))
        facts = [f"{k} {gemma[k]}" for k in ("model_type", "gemma_version") if isinstance(gemma.get(k), str)]
        details += [", ".join(facts)] if facts else []
        details.append("with the LTX text projection" if "text_projection" in held else "without the text projection")
    elif kind == "video-vae":
        details.append(str((ckpt.section("vae") or {}).get("_class_name") or "no vae config"))
    elif kind == "audio-vae":
        vocoder = ckpt.section("vocoder")
        parts = ["audio VAE" if "audio_vae" in held else "no audio VAE"]
        if "vocoder" in held:
            bwe = isinstance(vocoder, dict) and "bwe" in vocoder
            parts.append("vocoder with bandwidth extension" if bwe else "vocoder")
        details.append(" + ".join(parts))
    elif kind == "upsampler":
        c = ckpt.config
        axes = [f"spatial x{c.get('spatial_scale', 2.0):g}"] if c.get("spatial_upsample", True) else []
        axes += ["temporal x2"] if c.get("temporal_upsample", False) else []
        details.append(" + ".join(axes) or "no config")
    elif kind == "unknown":
        details.append("keys such as " + ", ".join(list(ckpt.tensors)[:3]) if ckpt.tensors else "no tensors")
    return KINDS[kind] + (f" ({'; '.join(details)})" if details else "")


@dataclass(frozen=True)
class Slot:
    component: str  # the component (ltx.checkpoint.COMPONENTS) the file must hold
    what: str
    example: str


_SINGLE = "a single-file LTX-2 / 2.3 checkpoint such as ltx-2.3-22b-dev"
_TRANSFORMER = "ltx-2.5-22b-dev-transformer-bf16"
_GEMMA, _AUDIO = "gemma4-12b-with-proj-ltx-2.5-bf16", "ltx-2.5-audio-vae-bf16"
SLOTS: dict[str, Slot] = {
    "transformer": Slot("transformer", "a transformer file", f"{_TRANSFORMER}, or {_SINGLE}"),
    "text_connectors": Slot("text_connectors", "a file with the text connectors", f"{_TRANSFORMER}, or {_SINGLE}"),
    "text_projection": Slot("text_projection", "a file with the text projection", f"{_GEMMA}, or {_SINGLE}"),
    "text_encoder": Slot("text_encoder", "a Gemma text-encoder file", _GEMMA),
    "video_vae": Slot("video_vae", "a video VAE file", f"ltx-2.5-video-vae-bf16 / -vae-conv-bf16, or {_SINGLE}"),
    "audio_vae": Slot("audio_vae", "an audio VAE file", f"{_AUDIO}, or {_SINGLE}"),
    "vocoder": Slot("vocoder", "a vocoder file", f"{_AUDIO} (it holds the vocoder), or {_SINGLE}"),
    "upsampler": Slot("upsampler", "a latent upsampler file", "ltx-2.5-latent-spatial-upscaler-x2-bf16-1.0"),
    "duration_head": Slot("duration_head", "a duration head file", "ltx-2.5-duration-head-bf16"),
    "lora": Slot("lora", "a LoRA file", "ltx-2.5-22b-distilled-lora-450-bf16"),
}


def expect(file: str | os.PathLike | Checkpoint, slot: str) -> Checkpoint:
    """The opened file, after checking that it holds what `slot` (a key of SLOTS) loads; otherwise a
    CheckpointError: '<file>: holds <what it is>; this slot expects <slot's file> (e.g. <file names>)'."""
    ckpt = file if isinstance(file, Checkpoint) else Checkpoint(file)
    s = SLOTS[slot]
    if s.component not in ckpt.components:
        raise CheckpointError(f"{ckpt.path}: holds {describe(ckpt)}; this slot expects {s.what} (e.g. {s.example})")
    return ckpt


def _json(value: str | None) -> dict:
    try:
        out = json.loads(value) if value else {}
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}
