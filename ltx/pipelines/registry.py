"""The one list of generation pipelines: `ltx generate --pipeline`, `ltx.pipelines.run_pipeline(name, ...)` and
`ltx parity --pipelines` all read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ltx.pipelines import dfr, dubit, hdr
from ltx.pipelines import generate as pipelines
from ltx.pipelines.models import Models
from ltx.pipelines.run import Request, Result


@dataclass(frozen=True)
class Pipeline:
    name: str
    run: Callable[..., Result]  # run(models, request, **inputs)
    two_stage: bool  # a half-size first stage: sizes are multiples of 64, 1024x1536 by default
    summary: str
    inputs: tuple[str, ...] = ()  # keyword inputs it needs besides the request

    @property
    def multiple(self) -> int:
        return 64 if self.two_stage else 32


PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in (
        Pipeline("one-stage", pipelines.one_stage, False, "text/image to video + audio in one guided stage"),
        Pipeline("two-stage", pipelines.two_stage, True, "half size, upsampled x2, refined with the distilled LoRA"),
        Pipeline("two-stage-hq", pipelines.two_stage_hq, True, "two-stage with res_2s and the distilled LoRA in both"),
        Pipeline("distilled", pipelines.distilled, True, "a distilled checkpoint: 8 + 3 steps, no guidance"),
        Pipeline("keyframes", pipelines.keyframes, True, "two-stage with every image as a keyframe"),
        Pipeline("a2v", pipelines.audio_to_video, True, "video for a given audio track", ("audio",)),
        Pipeline("retake", pipelines.retake, False, "regenerate a time window of a video", ("video", "start", "end")),
        Pipeline("ic-lora", pipelines.ic_lora, True, "follow a reference video with an IC-LoRA", ("reference",)),
        Pipeline("t2a", pipelines.text_to_audio, False, "audio alone from the prompt (write a .wav)"),
        Pipeline("dub-it", dubit.dub_it, True, "re-voice a clip with the Dub-It IC-LoRA", ("reference",)),
        Pipeline("dfr", dfr.dfr, True, "LTX-2.5 DFR: keyframe slots, detailing stage, optional x2 temporal rounds"),
        Pipeline(
            "hdr", hdr.hdr_ic_lora, True, "HDR (linear EXR) frames of an SDR clip with the HDR IC-LoRA", ("reference",)
        ),  # fmt: skip
    )
}


def run_pipeline(name: str, models: Models, req: Request, **inputs) -> Result:
    """Run the pipeline called `name` (a key of PIPELINES) with its inputs, e.g.
    run_pipeline("a2v", models, req, audio="voice.wav")."""
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; choose from {', '.join(PIPELINES)}")
    pipeline = PIPELINES[name]
    missing = [k for k in pipeline.inputs if inputs.get(k) is None]
    if missing:
        raise ValueError(f"the {name} pipeline needs {', '.join(missing)}")
    return pipeline.run(models, req, **inputs)
