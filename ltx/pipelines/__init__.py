"""Generation: the LTX-2 pipelines (text/image/audio/video -> video with audio) and the models they load.

`run_pipeline(name, models, request, **inputs)` runs any pipeline of `PIPELINES` by name; the functions
(`one_stage`, `two_stage`, ...) are the same pipelines with their own keyword arguments.
"""

from ltx.pipelines.engine import ImageCondition, Stage, check_size, run_stage
from ltx.pipelines.generate import (
    audio_to_video,
    distilled,
    ic_lora,
    keyframes,
    one_stage,
    retake,
    text_to_audio,
    two_stage,
    two_stage_hq,
)
from ltx.pipelines.models import Models
from ltx.pipelines.registry import PIPELINES, Pipeline, run_pipeline
from ltx.pipelines.run import Request, Result, generator_for

__all__ = [
    "PIPELINES",
    "ImageCondition",
    "Models",
    "Pipeline",
    "Request",
    "Result",
    "Stage",
    "audio_to_video",
    "check_size",
    "distilled",
    "generator_for",
    "ic_lora",
    "keyframes",
    "one_stage",
    "retake",
    "run_pipeline",
    "run_stage",
    "text_to_audio",
    "two_stage",
    "two_stage_hq",
]
