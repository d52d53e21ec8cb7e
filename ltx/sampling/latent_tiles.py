"""Tiles of a video latent for denoising it piece by piece (the HDR IC-LoRA pipeline's second stage runs the
transformer on 2 x 2 x 2 overlapping latent tiles and blends the results).

Each axis (latent frames, rows, columns) is cut into a given number of tiles sharing `overlap` cells with
their neighbours: the tile size is (length + overlap * (count - 1)) // count, and the first `remainder`
tiles are one cell longer. A tile's result is weighted by separable linear ramps over its overlaps
(`ltx.vae.tiling.trapezoid`); the ramps of neighbouring tiles sum to one, so the weighted results add up
to the blended latent with no division.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ltx.vae.tiling import split, trapezoid


@dataclass(frozen=True)
class LatentTile:
    frames: slice
    rows: slice
    columns: slice
    weights: torch.Tensor  # (frames, rows, columns) float32 blend weights

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return self.frames, self.rows, self.columns


def fit_count(count: int, overlap: int, length: int) -> tuple[int, int]:
    """(count, overlap) usable on an axis of `length` cells: one tile when the axis is shorter than `count`,
    else the overlap lowered to at most length - count (so every tile is longer than its overlap)."""
    if count < 1 or overlap < 0:
        raise ValueError(f"a tile count must be >= 1 and an overlap >= 0, got {count} and {overlap}")
    if count == 1:
        return count, overlap
    if length < count:
        return 1, 0
    return count, min(overlap, length - count)


def split_count(length: int, count: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(start, end, left ramp, right ramp) of `count` tiles covering `length` cells, neighbours sharing
    `overlap` cells; the first (total % count) tiles are one cell longer."""
    if count < 1 or overlap < 0:
        raise ValueError(f"a tile count must be >= 1 and an overlap >= 0, got {count} and {overlap}")
    if count > length:
        raise ValueError(f"{count} tiles cannot cover {length} cells")
    if count == 1:
        return [(0, length, 0, 0)]
    total = length + overlap * (count - 1)
    size, extra = divmod(total, count)
    if size <= overlap:
        raise ValueError(f"{count} tiles of {length} cells are {size} long, not more than their overlap {overlap}")
    tiles = split(length - extra, size, overlap)
    return [(s + min(i, extra), e + min(i, extra) + (i < extra), left, right)
            for i, (s, e, left, right) in enumerate(tiles)]  # fmt: skip


def latent_tiles(
    grid: tuple[int, int, int], counts: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
) -> list[LatentTile]:
    """The tiles of a latent of `grid` = (F', H', W') cells, `counts` = ((count, overlap) per axis), frames
    varying slowest. Counts that do not fit an axis are fitted first (`fit_count`)."""
    axes = []
    for length, (count, overlap) in zip(grid, counts, strict=True):
        count, overlap = fit_count(count, overlap, length)
        cuts = split_count(length, count, overlap)
        axes.append([(slice(s, e), trapezoid(e - s, left, right)) for s, e, left, right in cuts])
    tiles = []
    for f, wf in axes[0]:
        for h, wh in axes[1]:
            for w, ww in axes[2]:
                tiles.append(LatentTile(f, h, w, wf.view(-1, 1, 1) * wh.view(1, -1, 1) * ww.view(1, 1, -1)))
    return tiles
