"""Sampling: schedules, guidance, latent states and their conditioning, denoisers and loops."""

from ltx.sampling.denoise import Denoiser
from ltx.sampling.guidance import DEFAULTS, OFF, Guidance, defaults
from ltx.sampling.loops import blend, euler_loop, euler_step, res2s_loop
from ltx.sampling.schedule import DISTILLED_SIGMAS, STAGE2_SIGMAS, ltx2_sigmas, ltxv_timesteps
from ltx.sampling.state import (
    LatentState,
    add_noise,
    append_keyframe,
    append_reference,
    audio_state,
    replace_frames,
    strip,
    time_region,
    unpatchify,
    video_state,
)

__all__ = [
    "DEFAULTS",
    "DISTILLED_SIGMAS",
    "OFF",
    "STAGE2_SIGMAS",
    "Denoiser",
    "Guidance",
    "LatentState",
    "add_noise",
    "append_keyframe",
    "append_reference",
    "audio_state",
    "blend",
    "defaults",
    "euler_loop",
    "euler_step",
    "ltx2_sigmas",
    "ltxv_timesteps",
    "replace_frames",
    "res2s_loop",
    "strip",
    "time_region",
    "unpatchify",
    "video_state",
]
