"""Generation: the LTX-2 pipelines (text/image/audio/video -> video with audio) and the models they load."""

from ltx.pipelines.engine import ImageCondition, Stage, check_size, run_stage
from ltx.pipelines.generate import (
    PIPELINES,
    Request,
    Result,
    audio_to_video,
    distilled,
    ic_lora,
    keyframes,
    one_stage,
    retake,
    two_stage,
)
from ltx.pipelines.models import Models

__all__ = [
    "PIPELINES",
    "ImageCondition",
    "Models",
    "Request",
    "Result",
    "Stage",
    "audio_to_video",
    "check_size",
    "distilled",
    "ic_lora",
    "keyframes",
    "one_stage",
    "retake",
    "run_stage",
    "two_stage",
]
