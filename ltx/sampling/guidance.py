"""Guidance in x0 space, one set of parameters per modality, computed in float32.

pred = c + (cfg - 1)(c - u_text) + stg (c - u_perturbed) + (modality - 1)(c - u_isolated), then, with
rescale r != 0, pred * (r std(c) / std(pred) + 1 - r) with the std over the whole tensor. u_text is the
negative-prompt pass, u_perturbed the pass with self-attention skipped in `stg_blocks` (STG), u_isolated
the pass with both audio-video cross-attentions skipped. A pass runs only when some modality needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Guidance:
    cfg: float = 1.0  # classifier-free guidance scale (1 = off)
    stg: float = 0.0  # spatio-temporal guidance scale (0 = off)
    stg_blocks: tuple[int, ...] = field(default_factory=tuple)  # blocks whose self-attention STG skips
    rescale: float = 0.0  # 0 = off, 1 = full rescale to the conditional prediction's std
    modality: float = 1.0  # modality guidance: against the pass without audio-video cross-attention (1 = off)
    skip_step: int = 0  # evaluate only every (skip_step + 1)-th step; reuse the last prediction in between

    def __post_init__(self) -> None:
        if self.skip_step < 0:
            raise ValueError(f"skip_step must be >= 0, got {self.skip_step}")
        if self.stg and not self.stg_blocks:
            raise ValueError("STG needs the blocks it perturbs (stg_blocks)")

    @property
    def uses_negative(self) -> bool:
        return not math.isclose(self.cfg, 1.0)

    @property
    def uses_perturbed(self) -> bool:
        return not math.isclose(self.stg, 0.0)

    @property
    def uses_isolated(self) -> bool:
        return not math.isclose(self.modality, 1.0)

    def skips(self, step: int) -> bool:
        return self.skip_step > 0 and step % (self.skip_step + 1) != 0

    def combine(self, cond, uncond=0.0, perturbed=0.0, isolated=0.0) -> torch.Tensor:
        """The guided prediction from the passes' x0 (0.0 for a pass that did not run), computed in float32
        and returned in cond's dtype."""
        dtype = cond.dtype
        cond, uncond, perturbed, isolated = (x.float() if isinstance(x, torch.Tensor) else x
                                             for x in (cond, uncond, perturbed, isolated))  # fmt: skip
        pred = (
            cond
            + (self.cfg - 1) * (cond - uncond)
            + self.stg * (cond - perturbed)
            + (self.modality - 1) * (cond - isolated)
        )
        if self.rescale != 0:
            factor = cond.std() / pred.std()
            pred = pred * (self.rescale * factor + (1 - self.rescale))
        return pred.to(dtype)


OFF = Guidance()


def defaults(model_version: str | None) -> tuple[Guidance, Guidance, int]:
    """(video guidance, audio guidance, steps) the official pipelines use for a file's `model_version`
    (`ltx.sampling.versions` has the table)."""
    from ltx.sampling.versions import version_defaults

    d = version_defaults(model_version)
    return d.video, d.audio, d.steps
