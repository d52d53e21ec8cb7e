"""The pieces every pipeline is made of: size rules, conditioning images, one denoising stage, decoding.

A stage builds the video (and audio) state at its size, applies its conditioning, draws noise (video
first, then audio, from the pipeline's one generator, as the official pipelines do), holds a frozen
modality fixed, runs the sampling loop and returns the latents with any appended conditioning tokens removed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ltx.audio.timing import audio_token_count
from ltx.dit.latents import VIDEO_SCALE
from ltx.media import image_to_pixels
from ltx.sampling import (
    Denoiser,
    LatentState,
    add_noise,
    ancestral_loop,
    append_keyframe,
    audio_state,
    euler_loop,
    freeze,
    replace_frames,
    res2s_loop,
    strip,
    unpatchify,
    video_state,
)
from ltx.sampling.keyframe_slots import slot_latents
from ltx.sampling.state import latent_grid

SAMPLERS = ("euler", "res2s", "ancestral")

Condition = Callable[[LatentState], LatentState]


def check_size(height: int, width: int, frames: int, fps: float, multiple: int) -> None:
    """The sizes a pipeline accepts, with what to use instead."""
    if height % multiple or width % multiple or height <= 0 or width <= 0:
        raise ValueError(
            f"height and width must be positive multiples of {multiple} for this pipeline, got {height}x{width} "
            f"(e.g. {max(multiple, height // multiple * multiple)}x{max(multiple, width // multiple * multiple)})"
        )
    step = VIDEO_SCALE[0]  # pixel frames per latent frame
    if frames < 1 or (frames - 1) % step:
        lower = (frames - 1) // step * step + 1 if frames > 1 else 1
        raise ValueError(f"frames must be 1 + {step}k (e.g. 97, 121), got {frames}: use {lower} or {lower + step}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")


@dataclass(frozen=True)
class ImageCondition:
    """An image to condition on: at pixel frame `frame`, kept with `strength` (1 = exactly), after an
    H.264 round trip at `crf` (0 = none; None = what the model version was trained with: 33, 18 from 2.4)."""

    image: str | os.PathLike | np.ndarray
    frame: int = 0
    strength: float = 1.0
    crf: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"image strength must be in [0, 1], got {self.strength}")
        if self.frame < 0:
            raise ValueError(f"image frame must be >= 0, got {self.frame}")


def image_conditions(
    images: list[ImageCondition],
    height: int,
    width: int,
    frames: int,
    fps: float,
    encoder,
    *,
    keyframes_only: bool = False,
    default_crf: float = 33,
) -> list[Condition]:
    """Encode each image at the stage's size (re-compressed at its CRF, or `default_crf`). An image at
    frame 0 replaces the first latent frame (unless `keyframes_only`); the others are appended as
    keyframe tokens at their frame."""
    param = next(encoder.parameters())
    out: list[Condition] = []
    for img in images:
        if img.frame >= frames:
            raise ValueError(f"image frame {img.frame} is past the clip's last frame ({frames - 1})")
        crf = default_crf if img.crf is None else img.crf
        pixels = image_to_pixels(img.image, height, width, crf=crf, dtype=param.dtype, device=param.device)
        with torch.inference_mode():
            latent = encoder(pixels)
        if img.frame == 0 and not keyframes_only:
            out.append(lambda s, lat=latent, k=img.strength: replace_frames(s, lat, k, 0))
        else:
            out.append(lambda s, lat=latent, f=img.frame, k=img.strength: append_keyframe(s, lat, f, k, fps))
    return out


@dataclass
class Stage:
    """One denoising pass over a clip of frames x height x width at fps."""

    frames: int
    height: int
    width: int
    fps: float
    sigmas: torch.Tensor
    denoiser: Denoiser
    video_conditions: list[Condition] = field(default_factory=list)
    audio_conditions: list[Condition] = field(default_factory=list)
    noise_scale: float | torch.Tensor = 1.0
    audio_noise_scale: float | torch.Tensor | None = None  # None: noise_scale
    video_init: torch.Tensor | None = None
    audio_init: torch.Tensor | None = None
    freeze_video: bool = False  # the video latent is held as given (retake without video)
    freeze_audio: bool = False  # the audio latent is held as given (audio-to-video)
    sampler: str = "euler"  # one of SAMPLERS
    seed: int = -1  # the res2s / ancestral loop's own noise seed
    eta: float | None = None  # res2s: 0.5, ancestral: 1.0 when None
    name: str = "denoising"
    slots: torch.Tensor | None = field(default=None, init=False)  # after run_stage: its keyframe slots' latents

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")


def run_stage(
    stage: Stage,
    generator: torch.Generator,
    *,
    dtype: torch.dtype,
    device,
    audio: bool = True,
    video: bool = True,
    progress: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """-> (video latent (1, 128, F', H', W') or None, audio latent (1, 8, T', 16) or None)."""
    v = a = None
    if video:
        v = video_state(stage.video_init, (1, 128, *latent_grid(stage.frames, stage.height, stage.width)), stage.fps,
                        dtype=dtype, device=device)  # fmt: skip
        for cond in stage.video_conditions:
            v = cond(v)
        v = add_noise(v, generator, stage.noise_scale)
        v = freeze(v) if stage.freeze_video else v
    if audio:
        ashape = (1, 8, audio_token_count(stage.frames, stage.fps), 16)
        a = audio_state(stage.audio_init, ashape, dtype=dtype, device=device)
        for cond in stage.audio_conditions:
            a = cond(a)
        scale = stage.noise_scale if stage.audio_noise_scale is None else stage.audio_noise_scale
        a = add_noise(a, generator, scale)  # drawn even for a frozen stream: the generator stays in step
        a = freeze(a) if stage.freeze_audio else a
    sigmas = stage.sigmas.to(device=device, dtype=torch.float32)
    label = stage.name if progress else None
    if stage.sampler == "res2s":
        eta = 0.5 if stage.eta is None else stage.eta
        v, a = res2s_loop(sigmas, v, a, stage.denoiser, seed=stage.seed, model_dtype=dtype, eta=eta, progress=label)
    elif stage.sampler == "ancestral":
        eta = 1.0 if stage.eta is None else stage.eta
        v, a = ancestral_loop(sigmas, v, a, stage.denoiser, seed=stage.seed, eta=eta, model_dtype=dtype,
                              progress=label)  # fmt: skip
    else:
        v, a = euler_loop(sigmas, v, a, stage.denoiser, progress=label)
    stage.slots = None if v is None else slot_latents(v)  # read before `strip` drops them
    return (None if v is None else unpatchify(strip(v))), (None if a is None else unpatchify(strip(a)))
