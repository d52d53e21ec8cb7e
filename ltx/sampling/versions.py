"""What the official pipelines choose by a checkpoint's `model_version`.

A version string is read as its leading whole numbers, with '-' taken as '.': "2.3.rc1" -> (2, 3),
"2.4-rc2" -> (2, 4), "2.5.0" -> (2, 5, 0); a missing or non-numeric version is (), older than every
release (`ltx.checkpoint.parse_model_version`). A file gets the settings of the newest generation it is at or
above (the image CRF is `ltx.media.image_crf`'s):

| from | steps | STG block | image CRF | distilled stage 1 |
|---|---|---|---|---|
| (older) | 40 | 29 | 33 | Euler |
| 2.3 | 30 | 28 | 33 | Euler |
| 2.4 | 30 | 28 | 18 | Euler |
| 2.5 | 30 | 28 | 18 | ancestral Euler (eta 1, its own noise from seed + 10000) |
"""

from __future__ import annotations

from dataclasses import dataclass

from ltx.checkpoint import parse_model_version
from ltx.media import image_crf
from ltx.sampling.guidance import Guidance

__all__ = ["VersionDefaults", "at_least", "parse_model_version", "version_defaults"]


@dataclass(frozen=True)
class VersionDefaults:
    video: Guidance  # guidance of the full (non-distilled) models
    audio: Guidance
    steps: int  # denoising steps of the guided stage
    image_crf: int  # H.264 CRF an image condition is re-compressed at (as the model was trained)
    ancestral_distilled: bool  # the distilled pipeline's stage 1 samples with ancestral Euler


def _defaults(stg_block: int, steps: int, version: str, ancestral: bool) -> VersionDefaults:
    guide = dict(stg=1.0, stg_blocks=(stg_block,), rescale=0.7, modality=3.0)
    video, audio = Guidance(cfg=3.0, **guide), Guidance(cfg=7.0, **guide)
    return VersionDefaults(video, audio, steps, image_crf(version), ancestral)


# newest first; a version at or above a row's gets that row
_SINCE: tuple[tuple[tuple[int, ...], VersionDefaults], ...] = (
    ((2, 5), _defaults(28, 30, "2.5", True)),
    ((2, 4), _defaults(28, 30, "2.4", False)),
    ((2, 3), _defaults(28, 30, "2.3", False)),
)
_OLDEST = _defaults(29, 40, "2.0", False)


def version_defaults(model_version: str | None) -> VersionDefaults:
    parsed = parse_model_version(model_version)
    return next((d for since, d in _SINCE if parsed >= since), _OLDEST)


def at_least(model_version: str | None, since: tuple[int, ...]) -> bool:
    return parse_model_version(model_version) >= since
