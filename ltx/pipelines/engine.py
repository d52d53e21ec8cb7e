"""The pieces every pipeline is made of: size rules, conditioning images, one denoising stage, decoding.

A stage builds the video (and audio) state at its size, applies its conditioning, draws noise (video
first, then audio, from the pipeline's one generator, as the official pipelines do), runs the sampling
loop and returns the latents with any appended conditioning tokens removed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ltx.audio.timing import audio_token_count
from ltx.media import DEFAULT_CRF, image_to_pixels
from ltx.sampling import (
    Denoiser,
    LatentState,
    add_noise,
    append_keyframe,
    audio_state,
    euler_loop,
    replace_frames,
    res2s_loop,
    strip,
    unpatchify,
    video_state,
)

Condition = Callable[[LatentState], LatentState]


def check_size(height: int, width: int, frames: int, fps: float, multiple: int) -> None:
    """The sizes a pipeline accepts, with what to use instead."""
    if height % multiple or width % multiple or height <= 0 or width <= 0:
        raise ValueError(
            f"height and width must be positive multiples of {multiple} for this pipeline, got {height}x{width} "
            f"(e.g. {max(multiple, height // multiple * multiple)}x{max(multiple, width // multiple * multiple)})"
        )
    if frames < 1 or (frames - 1) % 8:
        lower = (frames - 1) // 8 * 8 + 1 if frames > 1 else 1
        raise ValueError(f"frames must be 1 + 8k (e.g. 97, 121), got {frames}: use {lower} or {lower + 8}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")


@dataclass(frozen=True)
class ImageCondition:
    """An image to condition on: at pixel frame `frame`, kept with `strength` (1 = exactly), after an
    H.264 round trip at `crf` (0 = none)."""

    image: str | os.PathLike | np.ndarray
    frame: int = 0
    strength: float = 1.0
    crf: float = DEFAULT_CRF

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
) -> list[Condition]:
    """Encode each image at the stage's size. An image at frame 0 replaces the first latent frame (unless
    `keyframes_only`); the others are appended as keyframe tokens at their frame."""
    param = next(encoder.parameters())
    out: list[Condition] = []
    for img in images:
        if img.frame >= frames:
            raise ValueError(f"image frame {img.frame} is past the clip's last frame ({frames - 1})")
        pixels = image_to_pixels(img.image, height, width, crf=img.crf, dtype=param.dtype, device=param.device)
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
    video_init: torch.Tensor | None = None
    audio_init: torch.Tensor | None = None
    freeze_audio: bool = False  # audio-to-video: the audio latent is kept as given
    sampler: str = "euler"  # "euler" | "res2s"
    res2s_seed: int = -1
    name: str = "denoising"


def run_stage(
    stage: Stage, generator: torch.Generator, *, dtype: torch.dtype, device, audio: bool = True, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """-> (video latent (1, 128, F', H', W'), audio latent (1, 8, T', 16) or None)."""
    vshape = (1, 128, (stage.frames - 1) // 8 + 1, stage.height // 32, stage.width // 32)
    v = video_state(stage.video_init, vshape, stage.fps, dtype=dtype, device=device)
    for cond in stage.video_conditions:
        v = cond(v)
    v = add_noise(v, generator, stage.noise_scale)
    a = None
    if audio:
        ashape = (1, 8, audio_token_count(stage.frames, stage.fps), 16)
        a = audio_state(stage.audio_init, ashape, dtype=dtype, device=device)
        for cond in stage.audio_conditions:
            a = cond(a)
        if stage.freeze_audio:
            a = add_noise(a, generator, 0.0)  # the official draw (and discard) keeps the generator in step
            a = replace(a, mask=torch.zeros_like(a.mask))
        else:
            a = add_noise(a, generator, stage.noise_scale)
    sigmas = stage.sigmas.to(device=device, dtype=torch.float32)
    label = stage.name if progress else None
    if stage.sampler == "res2s":
        v, a = res2s_loop(sigmas, v, a, stage.denoiser, seed=stage.res2s_seed, model_dtype=dtype, progress=label)
    elif stage.sampler == "euler":
        v, a = euler_loop(sigmas, v, a, stage.denoiser, progress=label)
    else:
        raise ValueError(f"sampler must be 'euler' or 'res2s', got {stage.sampler!r}")
    return unpatchify(strip(v)), None if a is None else unpatchify(strip(a))
