"""Sampling: schedules, guidance, latent states and their conditioning, denoisers and loops."""

from ltx.sampling.ancestral import ancestral_loop, ancestral_step, cfg_pp_step
from ltx.sampling.audio_reference import append_audio_reference, replace_masked
from ltx.sampling.denoise import Denoiser
from ltx.sampling.guidance import OFF, Guidance, defaults
from ltx.sampling.keyframe_slots import append_keyframe_slots, slot_latents
from ltx.sampling.loops import blend, euler_loop, euler_step, res2s_loop
from ltx.sampling.schedule import DISTILLED_SIGMAS, STAGE2_SIGMAS, ltx2_sigmas, ltxv_timesteps
from ltx.sampling.state import (
    LatentState,
    add_noise,
    append_keyframe,
    append_reference,
    audio_state,
    freeze,
    replace_frames,
    strip,
    time_region,
    unpatchify,
    video_state,
)
from ltx.sampling.versions import VersionDefaults, parse_model_version, version_defaults

__all__ = [
    "DISTILLED_SIGMAS",
    "OFF",
    "STAGE2_SIGMAS",
    "VersionDefaults",
    "Denoiser",
    "Guidance",
    "LatentState",
    "add_noise",
    "ancestral_loop",
    "ancestral_step",
    "append_audio_reference",
    "append_keyframe",
    "append_keyframe_slots",
    "append_reference",
    "audio_state",
    "blend",
    "cfg_pp_step",
    "defaults",
    "euler_loop",
    "euler_step",
    "freeze",
    "ltx2_sigmas",
    "ltxv_timesteps",
    "parse_model_version",
    "replace_frames",
    "replace_masked",
    "res2s_loop",
    "slot_latents",
    "strip",
    "time_region",
    "unpatchify",
    "version_defaults",
    "video_state",
]
