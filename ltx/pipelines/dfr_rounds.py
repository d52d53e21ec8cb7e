"""One temporal round of the DFR pipeline (LTX-2.5): a clip's latent, just upsampled x2 in time, refined in
keyframe-seamed tiles and stitched back.

Each tile (`dfr_layout.tiles`: 2^round of them) is denoised on its own, video only, from its part of the
upsampled latent: noised to the first sigma with the run's generator, then ancestral Euler (eta 0.5) over the
last steps of the distilled schedule with its own noise, seeded with seed + 1000 round + tile. The seams in its
window are anchors, the previous round's keyframes appended at strength 0.95 (nearly kept); a new keyframe slot
in the middle of each of its segments starts from the nearest latent frame. Positions use the round's fps
capped at 60 (at 120 fps every token's time span would be half of what the model saw in training). The
stitched latent, and the seams plus the tiles' slots as the next round's keyframes, come back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ltx.pipelines.dfr_layout import Tile, carry_forward, slot_seeds, stitch, tiles
from ltx.sampling import DISTILLED_SIGMAS, LatentState, add_noise, ancestral_loop, append_keyframe, strip, unpatchify
from ltx.sampling.keyframe_slots import append_keyframe_slots, slot_latents
from ltx.sampling.loops import Denoise
from ltx.sampling.state import video_state

ANCHOR_STRENGTH = 0.95  # the previous round's keyframes: nearly kept, so a tile can still settle its seam
TEMPORAL_ETA = 0.5
TEMPORAL_SIGMAS = DISTILLED_SIGMAS[4:]  # 0.975 ... 0
MAX_CONDITIONING_FPS = 60.0
TILE_SEED_STRIDE = 1000  # tile i of round r samples with seed + 1000 r + i

Condition = Callable[[LatentState], LatentState]


def temporal_round(
    denoise: Denoise,
    video: torch.Tensor,
    seams: Sequence[int],
    keyframes: torch.Tensor,
    *,
    round_index: int,
    fps: float,
    seed: int,
    generator: torch.Generator,
    images: Callable[[Tile], list[Condition]] | None = None,
    sigmas: Sequence[float] = TEMPORAL_SIGMAS,
    model_dtype: torch.dtype = torch.bfloat16,
    progress: str | None = None,
) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Refine `video` (1, C, F', H', W'), upsampled x2 in time at `fps` (the doubled rate), in round `round_index`
    (1, 2, ...). `seams`: this round's keyframe pixel frames (the previous ones doubled), `keyframes`
    (1, C, K, H', W') their latents. `denoise` runs the video alone. `images(tile)` gives a tile's image
    conditions in its own frames (none by default). `model_dtype`: the dtype the loop keeps the latent in
    between steps (the official pipeline keeps bfloat16 whatever the run's dtype).
    -> (the refined latent, the next round's keyframe frames, their latents)."""
    if video.ndim != 5 or video.shape[0] != 1:
        raise ValueError(f"the video latent must be (1, C, F', H', W'), got {tuple(video.shape)}")
    if keyframes.ndim != 5 or keyframes.shape[2] != len(seams):
        raise ValueError(
            f"{len(seams)} seams need (1, C, {len(seams)}, H', W') keyframes, got {tuple(keyframes.shape)}"
        )
    if round_index < 1:
        raise ValueError(f"temporal rounds count from 1, got {round_index}")
    frames = (video.shape[2] - 1) * 8 + 1
    cut = tiles(seams, frames, 2**round_index)
    index = {int(f): k for k, f in enumerate(seams)}
    time_base = min(fps, MAX_CONDITIONING_FPS)
    sigmas = torch.tensor(sigmas, dtype=torch.float32, device=video.device)
    latents, slot_frames, slots = [], [], []
    for i, tile in enumerate(cut):
        part = video[:, :, tile.latent_start : tile.latent_stop]
        state = video_state(part, tuple(part.shape), time_base, dtype=part.dtype, device=part.device)
        for cond in images(tile) if images is not None else []:
            state = cond(state)
        for f in tile.anchors:
            k = index[f]
            state = append_keyframe(state, keyframes[:, :, k : k + 1], f - tile.pixel_start, ANCHOR_STRENGTH, time_base)
        local = tile.local(tile.slots)
        state = append_keyframe_slots(state, local, time_base, slot_seeds(part, local))
        state = add_noise(state, generator, float(sigmas[0]))
        label = None if progress is None else f"{progress} tile {i + 1}/{len(cut)}"
        state, _ = ancestral_loop(sigmas, state, None, denoise, seed=seed + TILE_SEED_STRIDE * round_index + i,
                                  eta=TEMPORAL_ETA, model_dtype=model_dtype, progress=label)  # fmt: skip
        latents.append(unpatchify(strip(state)))
        slot_frames += tile.slots
        slots.append(slot_latents(state))
    frames_next, keyframes_next = carry_forward(seams, keyframes, slot_frames, torch.cat(slots, dim=2))
    return stitch(latents, cut), frames_next, keyframes_next
