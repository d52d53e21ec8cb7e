"""The frame arithmetic of the DFR pipeline (LTX-2.5): where its keyframe slots go, how a temporal round cuts
the clip into tiles, and how the tiles' latents are put back together.

Canvas. The clip's `frames - 1` is padded up to a multiple of a segment length S, 24 or 32, whichever needs
less padding (32 on a tie). A generated keyframe slot sits at the end of every segment: pixel frames S, 2S, ...,
N' - 1 (frame 0 needs none: the causal VAE's first latent frame already holds that frame alone).

Temporal rounds. After a x2 temporal upsample the old slots (their frames doubled) become seams, and the clip is
cut into tiles of whole segments between seams, the earlier tiles taking one segment more when the count does
not divide evenly. Every tile but the first reaches one segment back (the lead-in), so it denoises through the
seam it shares with the tile before. A tile's anchors are the seams inside its window (frame 0 is never one);
its new slots sit in the middle of each segment of its window. Stitching keeps, of every tile but the first,
the latent frames after the shared seam: the lead-in and the seam's latent frame (kept by the tile before)
are dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import torch

from ltx.dit.latents import VIDEO_SCALE

SEGMENTS = (24, 32)  # the segment lengths the canvas may use, in pixel frames
LEAD_SEGMENTS = 1  # how far a tile after the first reaches back, in segments
_STEP = VIDEO_SCALE[0]  # pixel frames per latent frame (after the first)


class Canvas(NamedTuple):
    frames: int  # pixel frames of the padded clip, N'
    segment: int  # the segment length S
    slots: tuple[int, ...]  # pixel frames of the keyframe slots: S, 2S, ..., N' - 1


class Tile(NamedTuple):
    """One window of a temporal round, in the whole clip's pixel / latent frames."""

    pixel_start: int  # the window's first pixel frame (a seam, or 0)
    pixel_end: int  # its last pixel frame (inclusive; a seam)
    latent_start: int  # its latent frames [latent_start, latent_stop)
    latent_stop: int
    anchors: tuple[int, ...]  # the seams inside the window (pixel frames; frame 0 is never one)
    slots: tuple[int, ...]  # the new slots: the middle of each segment of the window (pixel frames)
    drop: int  # leading latent frames that stitching discards (the lead-in and the shared seam)

    @property
    def frames(self) -> int:
        """Pixel frames of the window (1 + 8k)."""
        return self.pixel_end - self.pixel_start + 1

    def local(self, frames: Sequence[int]) -> tuple[int, ...]:
        """Pixel frames of the whole clip as frames of this window."""
        return tuple(int(f) - self.pixel_start for f in frames)


def segment_length(content: int) -> int:
    """The segment length for `content` = frames - 1 pixel frames: the one of SEGMENTS that needs the least
    padding to divide it, the longer one on a tie."""
    if content < 1:
        raise ValueError(f"the clip needs at least one frame after the first, got frames - 1 = {content}")
    return min(SEGMENTS, key=lambda s: (-content % s, -s))


def canvas(frames: int) -> Canvas:
    """The padded clip for a request of `frames` pixel frames (1 + 8k, k >= 1) and its keyframe slots."""
    if frames < 1 + _STEP or (frames - 1) % _STEP:
        lower = max(1 + _STEP, (frames - 1) // _STEP * _STEP + 1)
        upper = lower + _STEP if lower < frames else lower
        hint = f"use {lower}" if lower == upper else f"use {lower} or {upper}"
        raise ValueError(f"DFR needs frames = 1 + 8k with k >= 1 (e.g. 97, 121), got {frames}: {hint}")
    content = frames - 1
    segment = segment_length(content)
    padded = content + -content % segment
    return Canvas(padded + 1, segment, tuple(range(segment, padded + 1, segment)))


def tiles(seams: Sequence[int], frames: int, count: int, *, lead: int = LEAD_SEGMENTS) -> list[Tile]:
    """Cut a clip of `frames` pixel frames into `count` tiles at `seams` (increasing pixel frames, the last
    one the clip's last frame, at least two latent frames apart). More tiles than segments: one per segment."""
    seams = [int(s) for s in seams]
    if frames < 2:
        raise ValueError(f"a clip to tile needs at least 2 frames, got {frames}")
    if not seams or seams[-1] != frames - 1:
        raise ValueError(f"the last seam must be the clip's last frame {frames - 1}, got seams {seams}")
    if count < 1:
        raise ValueError(f"the tile count must be at least 1, got {count}")
    if lead < 1:
        raise ValueError(f"the lead-in must be at least 1 segment, got {lead}")
    bounds = [0, *seams]
    for a, b in itertools.pairwise(bounds):
        if b <= a:
            raise ValueError(f"seams must increase from frame 1 on, got {seams}")
        if (b - a) % _STEP or b - a < 2 * _STEP:
            raise ValueError(
                f"the segment [{a}, {b}] must be a multiple of {_STEP} frames and at least {2 * _STEP} long "
                f"(two latent frames, to hold a lead-in), got seams {seams}"
            )
    segments = len(seams)
    count = min(count, segments)
    base, extra = divmod(segments, count)
    out, own = [], 0
    for i in range(count):
        stop = own + base + (i < extra)  # this tile owns segments [own, stop)
        start = max(0, own - lead) if i else 0  # its window starts `lead` segments earlier
        drop = (bounds[own] - bounds[start]) // _STEP + (1 if own else 0)
        out.append(
            Tile(
                pixel_start=bounds[start],
                pixel_end=bounds[stop],
                latent_start=bounds[start] // _STEP,
                latent_stop=bounds[stop] // _STEP + 1,
                anchors=tuple(b for b in bounds[start : stop + 1] if b),
                slots=tuple((a + b) // 2 for a, b in itertools.pairwise(bounds[start : stop + 1])),
                drop=drop,
            )
        )
        own = stop
    return out


def stitch(latents: Sequence[torch.Tensor], tiles: Sequence[Tile]) -> torch.Tensor:
    """The tiles' latents (B, C, F, H', W'), each of its tile's latent frames, as one clip along F."""
    if not tiles or len(latents) != len(tiles):
        raise ValueError(f"stitching needs one latent per tile: got {len(latents)} latents for {len(tiles)} tiles")
    first = latents[0]
    for i, (x, t) in enumerate(zip(latents, tiles, strict=True)):
        expected = t.latent_stop - t.latent_start
        if x.ndim != 5 or x.shape[2] != expected:
            raise ValueError(
                f"tile {i} covers latent frames [{t.latent_start}, {t.latent_stop}) and needs a (B, C, {expected}, H', "
                f"W') latent, got {tuple(x.shape)}"
            )
        if (x.shape[:2], x.shape[3:]) != (first.shape[:2], first.shape[3:]):
            raise ValueError(f"tile {i}'s latent {tuple(x.shape)} does not match tile 0's {tuple(first.shape)}")
        if not 0 <= t.drop < expected:
            raise ValueError(f"tile {i} drops {t.drop} of its {expected} latent frames")
    return torch.cat([x[:, :, t.drop :] for x, t in zip(latents, tiles, strict=True)], dim=2)


def slot_seeds(video: torch.Tensor, frames: Sequence[int]) -> torch.Tensor:
    """Starting latents (B, C, K, H', W') for slots at pixel `frames` of a clip's latent `video` (B, C, F, H', W'):
    the latent frame nearest each (clamped to the clip)."""
    if video.ndim != 5:
        raise ValueError(f"the video latent must be (B, C, F, H', W'), got {tuple(video.shape)}")
    last = video.shape[2] - 1
    index = [min(max(round(int(f) / _STEP), 0), last) for f in frames]
    return video[:, :, index]


def carry_forward(
    seams: Sequence[int], seam_latents: torch.Tensor, slots: Sequence[int], slot_latents: torch.Tensor | None
) -> tuple[list[int], torch.Tensor]:
    """The next round's keyframes: this round's seams and its tiles' new slots, ordered by frame. `slots` may
    repeat a frame (a tile's lead-in re-generates the slots of the tile before it): the first one is kept. A
    slot at a seam's frame replaces the seam."""
    keyframes: dict[int, torch.Tensor] = {}
    for name, frames, latents in (("seam", seams, seam_latents), ("slot", slots, slot_latents)):
        if not frames:
            continue
        if latents is None or latents.shape[2] != len(frames):
            got = None if latents is None else latents.shape[2]
            raise ValueError(f"{len(frames)} {name} frames need as many {name} latents, got {got}")
        ours: dict[int, torch.Tensor] = {}
        for k, f in enumerate(frames):
            ours.setdefault(int(f), latents[:, :, k : k + 1])
        keyframes.update(ours)
    if not keyframes:
        raise ValueError("no keyframes to carry forward: give seams or slots")
    order = sorted(keyframes)
    return order, torch.cat([keyframes[f] for f in order], dim=2)


def output_frames(requested: int, rounds: int) -> int:
    """Pixel frames DFR returns for a request of `requested` frames after `rounds` temporal x2 rounds (the
    canvas padding cut off again)."""
    return (requested - 1) * 2**rounds + 1
