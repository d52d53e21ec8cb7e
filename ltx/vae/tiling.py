"""Tiled encode and decode with overlap blending, as ltx-core does it (REFERENCE.md §3).

Decode: the latent is cut into spatial tiles (size scaled so tiles keep the frame's aspect) and
temporal tiles that start one latent frame early (the causal decoder's first output frame stands
for one pixel frame); each decoded tile is weighted by a separable trapezoid (linear ramps over the
overlaps) and the sum is divided by the summed weights. Temporal tiles are decoded in order and
finished frames are yielded as soon as no later tile overlaps them, so memory is bounded by one
temporal slice of the output.

Encode: pixel tiles whose overlaps are discarded (rectangular weights) one latent cell into each
overlap, so every latent comes from a tile where it had real neighbours.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ltx.vae.video import SPACE_SCALE, TIME_SCALE, VideoDecoder, VideoEncoder, check_video_shape

# (start, end, left ramp, right ramp) of one tile along one axis
Interval = tuple[int, int, int, int]


@dataclass(frozen=True)
class Tiling:
    """Tile sizes in pixels / frames; None switches tiling off along that axis.
    Defaults are ltx-core's: 512 px tiles with 64 px overlap, 64-frame tiles with 24-frame overlap."""

    tile_px: int | None = 512
    overlap_px: int = 64
    tile_frames: int | None = 64
    overlap_frames: int = 24

    def __post_init__(self) -> None:
        if self.tile_px is not None:
            if self.tile_px < 64 or self.tile_px % 32 or self.overlap_px % 32 or self.overlap_px >= self.tile_px:
                raise ValueError(
                    "spatial tiles need tile_px >= 64, tile and overlap multiples of 32, overlap < tile; "
                    f"got {self.tile_px} / {self.overlap_px}"
                )
        if self.tile_frames is not None:
            t, o = self.tile_frames, self.overlap_frames
            if t < 16 or t % 8 or o % 8 or o >= t:
                raise ValueError(
                    "temporal tiles need tile_frames >= 16, tile and overlap multiples of 8, overlap < tile; "
                    f"got {t} / {o}"
                )


def split(length: int, size: int, overlap: int) -> list[Interval]:
    """Tiles of `size` overlapping by `overlap`; the last one ends at `length`."""
    if length <= size:
        return [(0, length, 0, 0)]
    n = (length + size - 2 * overlap - 1) // (size - overlap)
    starts = [i * (size - overlap) for i in range(n)]
    ends = [s + size for s in starts[:-1]] + [length]
    return [
        (s, e, overlap if i else 0, overlap if i < n - 1 else 0)
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]


def trapezoid(length: int, left: int, right: int, left_from_zero: bool = False) -> torch.Tensor:
    """Weights rising linearly over `left` elements and falling over `right` (exclusive of 0 and 1,
    except that the rise starts at 0 when `left_from_zero`)."""
    left, right = max(0, min(left, length)), max(0, min(right, length))
    mask = torch.ones(length)
    if left > 0:
        fade = torch.linspace(0.0, 1.0, left + 1 if left_from_zero else left + 2)[:-1]
        mask[:left] *= fade if left_from_zero else fade[1:]
    if right > 0:
        mask[-right:] *= torch.linspace(1.0, 0.0, right + 2)[1:-1]
    return mask.clamp_(0, 1)


def rectangle(length: int, left: int, right: int) -> torch.Tensor:
    mask = torch.ones(length)
    if left > 0:
        mask[:left] = 0
    if right > 0:
        mask[-right:] = 0
    return mask


def _blend(mt: torch.Tensor, mh: torch.Tensor, mw: torch.Tensor) -> torch.Tensor:
    return mt.view(1, 1, -1, 1, 1) * mh.view(1, 1, 1, -1, 1) * mw.view(1, 1, 1, 1, -1)


def _spatial_ramp(start: int, end: int, left: int, right: int) -> torch.Tensor:
    return trapezoid((end - start) * SPACE_SCALE, left * SPACE_SCALE, right * SPACE_SCALE)


# -- decode ----------------------------------------------------------------------------------------
def _decode_axes(latent: torch.Tensor, tiling: Tiling):
    """Per axis (t, h, w): list of (input slice, output slice, 1-D weights)."""
    _, _, f, h, w = latent.shape
    axes = []
    if tiling.tile_frames is None:
        axes.append([(slice(0, f), slice(0, None), None)])
    else:
        size, overlap = tiling.tile_frames // TIME_SCALE, tiling.overlap_frames // TIME_SCALE
        intervals = split(f, size, overlap)
        if len(intervals) > 1:  # start every later tile one latent early, and ramp over that frame too
            intervals = [intervals[0]] + [(s - 1, e, lr + 1, rr) for s, e, lr, rr in intervals[1:]]
        t_axis = []
        for s, e, lr, rr in intervals:
            start, stop = s * TIME_SCALE, 1 + (e - 1) * TIME_SCALE
            ramp_in = 0 if lr == 0 else 1 + (lr - 1) * TIME_SCALE
            t_axis.append((slice(s, e), slice(start, stop), trapezoid(stop - start, ramp_in, rr * TIME_SCALE, True)))
        axes.append(t_axis)
    long_side = max(h, w)
    for length in (h, w):
        if tiling.tile_px is None:
            axes.append([(slice(0, length), slice(0, None), None)])
            continue
        size, overlap = tiling.tile_px // SPACE_SCALE, tiling.overlap_px // SPACE_SCALE
        size = max(max(2, overlap + 1), round(size * length / long_side))
        axes.append([(slice(s, e), slice(s * SPACE_SCALE, e * SPACE_SCALE), _spatial_ramp(s, e, lr, rr))
                     for s, e, lr, rr in split(length, size, overlap)])  # fmt: skip
    return axes


def tiled_decode(
    decoder: VideoDecoder, latent: torch.Tensor, tiling: Tiling = Tiling(), **kwargs
) -> Iterator[torch.Tensor]:
    """Yield the decoded video (B, 3, frames, H, W) in consecutive temporal chunks; `kwargs` go to
    the decoder (timestep, noise_scale, generator: the tiles draw their noise in turn)."""
    b, _, f, h, w = latent.shape
    out_shape = (b, decoder.cfg.out_channels, None, h * SPACE_SCALE, w * SPACE_SCALE)
    t_axis, h_axis, w_axis = _decode_axes(latent, tiling)
    ones = torch.ones(1)
    prev = prev_weights = prev_slice = None
    for t_in, t_out, t_mask in t_axis:
        t_out = slice(t_out.start, t_out.stop if t_out.stop is not None else 1 + (f - 1) * TIME_SCALE)
        length = t_out.stop - t_out.start
        buffer = torch.zeros(out_shape[:2] + (length,) + out_shape[3:], device=latent.device, dtype=latent.dtype)
        weights = torch.zeros_like(buffer[:, :1])  # one channel: the blend weights are the same for all
        for h_in, h_out, h_mask in h_axis:
            for w_in, w_out, w_mask in w_axis:
                tile = decoder(latent[:, :, t_in, h_in, w_in], **kwargs)
                mask = _blend(*(ones if m is None else m for m in (t_mask, h_mask, w_mask))).to(buffer)
                n = min(length, tile.shape[2])
                mask = mask[:, :, :n] if mask.shape[2] > 1 else mask
                buffer[:, :, :n, h_out, w_out] += tile[:, :, :n] * mask
                weights[:, :, :n, h_out, w_out] += mask
        if prev is not None:
            if prev_slice.stop > t_out.start:  # fold the overlap into both chunks
                k = t_out.start - prev_slice.start
                overlap = prev_slice.stop - t_out.start
                prev[:, :, k:] += buffer[:, :, :overlap]
                prev_weights[:, :, k:] += weights[:, :, :overlap]
                buffer[:, :, :overlap] = prev[:, :, k:]
                weights[:, :, :overlap] = prev_weights[:, :, k:]
            yield (prev / prev_weights.clamp(min=1e-8))[:, :, : t_out.start - prev_slice.start]
        prev, prev_weights, prev_slice = buffer, weights, t_out
    yield prev / prev_weights.clamp(min=1e-8)


def decode(decoder: VideoDecoder, latent: torch.Tensor, tiling: Tiling | None = None, **kwargs) -> torch.Tensor:
    """The whole video at once, tiled or not."""
    if tiling is None:
        return decoder(latent, **kwargs)
    return torch.cat(list(tiled_decode(decoder, latent, tiling, **kwargs)), dim=2)


# -- encode ----------------------------------------------------------------------------------------
def tiled_encode(
    encoder: VideoEncoder, video: torch.Tensor, tiling: Tiling = Tiling(), crop: bool = False, **kwargs
) -> torch.Tensor:
    """Normalised latents of `video`, encoded tile by tile (tiles move to the encoder's device).
    Overlaps are raised to at least 64 px / 16 frames, the least that covers the encoder's padding."""
    param = next(encoder.parameters())
    video = video[:, :, : check_video_shape(video.shape, crop)]
    if (
        tiling.tile_frames is not None
        and tiling.overlap_frames < 16
        or tiling.tile_px is not None
        and tiling.overlap_px < 64
    ):
        warnings.warn("tiled encode: overlaps below 64 px / 16 frames are raised to those minimums", stacklevel=2)
    b, _, f, h, w = video.shape
    axes = []
    if tiling.tile_frames is None:
        axes.append([(slice(0, f), slice(0, None), None)])
    else:
        intervals = split(f, tiling.tile_frames, max(tiling.overlap_frames, 16))
        if len(intervals) > 1:  # every tile but the last takes one more frame, so it holds 1 + 8k frames
            intervals = [(s, e + 1, lr, 0) for s, e, lr, _ in intervals[:-1]] + [intervals[-1][:3] + (0,)]
        axes.append([
            (slice(s, e), slice(s // TIME_SCALE, (e - 1) // TIME_SCALE + 1),
             rectangle((e - 1) // TIME_SCALE + 1 - s // TIME_SCALE, 0 if lr == 0 else 1 + (lr - 1) // TIME_SCALE, 0))
            for s, e, lr, _ in intervals
        ])  # fmt: skip
    for length in (h, w):
        if tiling.tile_px is None:
            axes.append([(slice(0, length), slice(0, None), None)])
            continue
        axes.append([
            (slice(s, e), slice(s // SPACE_SCALE, e // SPACE_SCALE),
             rectangle(e // SPACE_SCALE - s // SPACE_SCALE, max(0, lr // SPACE_SCALE - 1), 0 if rr == 0 else 1))
            for s, e, lr, rr in split(length, tiling.tile_px, max(tiling.overlap_px, 64))
        ])  # fmt: skip
    latent = torch.zeros(b, encoder.cfg.latent_channels, (f - 1) // TIME_SCALE + 1, h // SPACE_SCALE, w // SPACE_SCALE,
                         device=param.device, dtype=param.dtype)  # fmt: skip
    weights = torch.zeros_like(latent[:, :1])  # one channel: the blend weights are the same for all
    ones = torch.ones(1)
    for t_in, t_out, t_mask in axes[0]:
        for h_in, h_out, h_mask in axes[1]:
            for w_in, w_out, w_mask in axes[2]:
                tile = encoder(video[:, :, t_in, h_in, w_in].to(param), **kwargs)
                mask = _blend(*(ones if m is None else m for m in (t_mask, h_mask, w_mask))).to(latent)
                latent[:, :, t_out, h_out, w_out] += tile * mask
                weights[:, :, t_out, h_out, w_out] += mask
    return latent / weights.clamp(min=1e-8)
