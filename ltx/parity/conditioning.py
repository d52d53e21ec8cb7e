"""LTX-2.5 conditioning and HDR, ours vs ltx-core / ltx-pipelines 1.2.0 (no checkpoint needed): the Dub-It
reference audio appended to an audio state, the latent-mask conditioning of a video state, and the HDR
working-space transforms (LogC3, ACEScct, primaries) as the HDR pipelines use them. Float32, exact (every
compared tensor is expected bitwise equal)."""

from __future__ import annotations

import torch

from ltx import hdr
from ltx.parity.compare import Row, compare_exact
from ltx.parity.oracle import ensure_torchaudio, require
from ltx.sampling import audio_state, replace_frames, video_state
from ltx.sampling.audio_reference import append_audio_reference, replace_masked

_FIELDS = {
    "tokens": ("latent", "latent"),
    "denoise mask": ("mask", "denoise_mask"),
    "positions": ("positions", "positions"),
    "clean": ("clean", "clean_latent"),
}  # label: (ours, official)


def _state_tensors(prefix: str, state, official: bool) -> dict[str, torch.Tensor]:
    return {f"{prefix} {label}": getattr(state, names[official]).float() for label, names in _FIELDS.items()}


def _audio_reference(device) -> tuple[dict, dict]:
    dubit, cond = require("ltx_pipelines.dubit"), require("ltx_core.conditioning")
    tools, types = require("ltx_core.tools"), require("ltx_core.types")
    patch = require("ltx_core.components.patchifiers")
    g = torch.Generator().manual_seed(0)
    initial, ref = torch.randn(2, 8, 26, 16, generator=g).to(device), torch.randn(2, 8, 37, 16, generator=g).to(device)
    at = tools.AudioLatentTools(patch.AudioPatchifier(patch_size=1), types.AudioLatentShape(2, 8, 26, 16))
    tokens, positions = dubit.patchify_dubit_audio_reference_latent(ref, negative_positions=True, device=device)
    expected = cond.AudioConditionByReferenceLatent(tokens, positions).apply_to(
        at.create_initial_state(device, torch.float32, initial), at
    )
    ours = append_audio_reference(audio_state(initial, tuple(initial.shape), dtype=torch.float32, device=device), ref)
    return _state_tensors("dub-it audio", ours, False), _state_tensors("dub-it audio", expected, True)


def _latent_mask(device) -> tuple[dict, dict]:
    cond, tools, types = require("ltx_core.conditioning"), require("ltx_core.tools"), require("ltx_core.types")
    patch = require("ltx_core.components.patchifiers")
    g = torch.Generator().manual_seed(1)
    shape = (2, 128, 3, 2, 3)
    initial, latent = torch.randn(shape, generator=g).to(device), torch.randn(shape, generator=g).to(device)
    first = torch.randn(2, 128, 1, 2, 3, generator=g).to(device)
    mask = (torch.rand(2, 3, 2, 3, generator=g) > 0.5).float().to(device)
    vt = tools.VideoLatentTools(patch.VideoLatentPatchifier(patch_size=1), types.VideoLatentShape(*shape), 24.0)
    expected = cond.VideoConditionByLatentIndex(latent=first, strength=0.9, latent_idx=0).apply_to(
        vt.create_initial_state(device, torch.float32, initial), vt
    )
    expected = cond.VideoConditionByMask(latent=latent, mask=mask, strength=0.8).apply_to(expected, vt)
    ours = replace_frames(video_state(initial, shape, 24.0, dtype=torch.float32, device=device), first, 0.9, 0)
    ours = replace_masked(ours, latent, mask, 0.8)
    return _state_tensors("latent mask", ours, False), _state_tensors("latent mask", expected, True)


def _hdr(device) -> tuple[dict, dict]:
    official_hdr, prim = require("ltx_core.hdr"), require("ltx_core.color.primaries")
    decode_hdr_video = require("ltx_pipelines.utils.media_io").decode_hdr_video
    g = torch.Generator().manual_seed(2)
    linear = torch.cat([torch.rand(1, 3, 2, 8, 8, generator=g) * 0.02, torch.rand(1, 3, 2, 8, 8, generator=g) * 40],
                       dim=2).to(device)  # fmt: skip
    frames = torch.rand(3, 8, 8, 3, generator=g).to(device)
    ours, ref = {}, {}
    for transfer in hdr.Transfer:
        theirs = official_hdr.HDRTransfer(transfer.value)
        for source in hdr.Primaries:
            p = prim.Primaries(source.value)
            name = f"{transfer.label} from {source.value}"
            ours[name] = hdr.to_working_space(linear, transfer, source)
            ref[name] = theirs.to_working_space(linear, source_primaries=p)
            ours[f"{name} and back"] = hdr.to_linear(ours[name], transfer, source)
            ref[f"{name} and back"] = theirs.to_linear(ref[name], out_primaries=p)
        ours[f"{transfer.label} decoded frames -> linear"] = hdr.decoded_to_linear(frames, transfer)
        ref[f"{transfer.label} decoded frames -> linear"] = decode_hdr_video(frames, theirs)
    return ours, ref


def conditioning_parity(group: str = "LTX-2.5 conditioning and HDR", device: str | torch.device = "cpu") -> list[Row]:
    ensure_torchaudio()  # ltx-pipelines imports it
    rows = []
    for part in (_audio_reference, _latent_mask, _hdr):
        ours, ref = part(device)
        rows += compare_exact(group, ours, ref)
    return rows
