"""Noise schedules: LTX-2's token-shifted schedule, the distilled sigma lists, LTX-Video's shifted schedule."""

from __future__ import annotations

import math

import torch

# The distilled models' schedules: stage 1 (8 steps) and stage 2 (3 steps after re-noising to 0.909375).
DISTILLED_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0)
STAGE2_SIGMAS = (0.909375, 0.725, 0.421875, 0.0)
OFFICIAL_TOKENS = 4096  # what ltx-pipelines shifts for, whatever the clip's size


def ltx2_sigmas(
    steps: int,
    tokens: int | None = None,
    *,
    base_shift: float = 0.95,
    max_shift: float = 2.05,
    terminal: float | None = 0.1,
) -> torch.Tensor:
    """steps + 1 float32 sigmas from 1 to 0.

    linspace(1, 0) mapped through s -> e^mu / (e^mu + 1/s - 1), mu linear in the token count (base_shift at
    1024 tokens, max_shift at 4096, extrapolated), then stretched so the last non-zero sigma is `terminal`.
    tokens=None shifts for 4096 tokens, as ltx-pipelines does for every size ("official"); pass the clip's
    real token count for the schedule diffusers uses.
    """
    if steps < 1 or (steps < 2 and terminal is not None):
        # one step stretched to a terminal divides 0 by 0 (ltx-core returns NaN or 0.1 for the first sigma)
        raise ValueError(f"a schedule stretched to a terminal sigma needs at least 2 steps, got {steps}")
    tokens = OFFICIAL_TOKENS if tokens is None else tokens
    slope = (max_shift - base_shift) / (OFFICIAL_TOKENS - 1024)
    mu = tokens * slope + (base_shift - slope * 1024)
    sigmas = torch.linspace(1.0, 0.0, steps + 1)
    shifted = torch.where(sigmas != 0, math.exp(mu) / (math.exp(mu) + (1 / sigmas - 1) ** 1), 0)
    if terminal is not None:
        live = shifted != 0
        remaining = 1.0 - shifted[live]
        shifted[live] = 1.0 - remaining / (remaining[-1] / (1.0 - terminal))
    return shifted.to(torch.float32)


def ltxv_timesteps(steps: int, tokens: int, *, terminal: float | None = 0.1) -> torch.Tensor:
    """LTX-Video 0.9.x (the RectifiedFlowScheduler with uniform sampling and SD3 shifting): `steps` timesteps
    linspace(1, 1/steps) shifted for the clip's token count (mu 0.95 at 1024 tokens to 2.05 at 4096) and
    stretched so the last one is `terminal`. The sampler steps from each to the next and from the last to 0."""
    if steps < 1 or (steps < 2 and terminal is not None):
        raise ValueError(f"a schedule stretched to a terminal sigma needs at least 2 steps, got {steps}")
    slope = (2.05 - 0.95) / (OFFICIAL_TOKENS - 1024)
    mu = slope * tokens + (0.95 - slope * 1024)
    shifted = math.exp(mu) / (math.exp(mu) + (1 / torch.linspace(1, 1 / steps, steps) - 1) ** 1)
    if terminal is None:
        return shifted
    if not 0 < terminal < 1:
        raise ValueError(f"terminal must be in (0, 1), got {terminal}")
    remaining = 1 - shifted
    return 1 - remaining / (remaining[-1] / (1 - terminal))
