"""The official implementation as a test oracle: ltx-core 1.0.0, loading files through its own loader.

Nothing here is used by the model; only `ltx parity` and the tests import it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence

import torch

from ltx.dit.inputs import Perturbation, Stream

_INSTALL_HINT = (
    "the parity check needs the official packages as an oracle: "
    "pip install --no-deps ltx-core==1.0.0 ltx-pipelines==1.0.0"
)

_OFFICIAL_SKIP = {
    "video_self_attn": "SKIP_VIDEO_SELF_ATTN",
    "audio_self_attn": "SKIP_AUDIO_SELF_ATTN",
    "a2v": "SKIP_A2V_CROSS_ATTN",
    "v2a": "SKIP_V2A_CROSS_ATTN",
}


def require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise RuntimeError(f"{_INSTALL_HINT} ({e})") from None


class OfficialTransformer:
    """ltx-core's LTXModel built by SingleGPUModelBuilder exactly as its ModelLedger does it."""

    def __init__(self, path: str | os.PathLike, device: torch.device, dtype: torch.dtype, has_audio: bool):
        builder_mod = require("ltx_core.loader.single_gpu_model_builder")
        tmod = require("ltx_core.model.transformer")
        configurator = tmod.LTXModelConfigurator if has_audio else tmod.LTXVideoOnlyModelConfigurator
        builder = builder_mod.SingleGPUModelBuilder(
            model_path=str(path), model_class_configurator=configurator, model_sd_ops=tmod.LTXV_MODEL_COMFY_RENAMING_MAP
        )
        # fp8-cast files: the official policy upcasts each fp8 weight to the activation dtype at run
        # time; casting it to `dtype` at load is the same arithmetic, and the builder does that here.
        self.model = builder.build(device=device, dtype=dtype).eval()
        left_on_meta = [n for n, p in self.model.named_parameters() if p.device.type == "meta"]
        if left_on_meta:  # the official builder warns and returns a half-built model; we refuse
            raise RuntimeError(f"ltx-core left {len(left_on_meta)} parameters unloaded, e.g. {left_on_meta[:5]}")
        self.dtype = dtype

    @property
    def blocks(self) -> Sequence[torch.nn.Module]:
        return self.model.transformer_blocks

    def __call__(self, video: Stream | None, audio: Stream | None, perturbations: Sequence[Perturbation]):
        batch = (video or audio).latent.shape[0]
        with torch.no_grad():
            return self.model(
                video=None if video is None else modality(video),
                audio=None if audio is None else modality(audio),
                perturbations=official_perturbations(perturbations, batch),
            )


def modality(s: Stream):
    """Our Stream as ltx-core's Modality (timesteps (B, T, 1), as its pipelines build them)."""
    Modality = require("ltx_core.model.transformer.modality").Modality
    timesteps = s.timesteps if s.timesteps.ndim == 3 else s.timesteps.unsqueeze(-1)
    return Modality(
        latent=s.latent,
        sigma=torch.as_tensor(s.sigma),
        timesteps=timesteps,
        positions=s.positions,
        context=s.context,
        enabled=s.enabled,
        context_mask=s.context_mask,
        attention_mask=s.attention_mask,
    )


def official_perturbations(perturbations: Sequence[Perturbation], batch: int):
    p = require("ltx_core.guidance.perturbations")
    per_sample = []
    for i in range(batch):
        items = [
            p.Perturbation(
                type=p.PerturbationType[_OFFICIAL_SKIP[q.skip]], blocks=None if q.blocks is None else list(q.blocks)
            )
            for q in perturbations
            if q.samples is None or i in q.samples
        ]
        per_sample.append(p.PerturbationConfig(items))
    return p.BatchedPerturbationConfig(per_sample)


def official_positions(frames: int, height: int, width: int, fps: float, audio_tokens: int, batch: int):
    """Video and audio token positions as ltx-core's latent tools build them (latent sizes in)."""
    tools = require("ltx_core.tools")
    patchifiers = require("ltx_core.components.patchifiers")
    types = require("ltx_core.types")
    video_shape = types.VideoLatentShape(batch=batch, channels=128, frames=frames, height=height, width=width)
    video = tools.VideoLatentTools(patchifiers.VideoLatentPatchifier(patch_size=1), video_shape, fps)
    audio_shape = types.AudioLatentShape(batch=batch, channels=8, frames=audio_tokens, mel_bins=16)
    audio = tools.AudioLatentTools(patchifiers.AudioPatchifier(patch_size=1), audio_shape)
    cpu = torch.device("cpu")
    return (
        video.create_initial_state(cpu, torch.float32).positions,
        audio.create_initial_state(cpu, torch.float32).positions,
    )
