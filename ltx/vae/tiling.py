"""Tiled encode and decode with overlap blending, as ltx-core 1.2.0 does it.

Both cut the LATENT grid into overlapping tiles: along time, every tile after the first starts one
latent frame early (a causal tile's first latent frame stands for a single pixel frame) and ramps
over that frame too. Each tile's output is weighted by separable trapezoids (linear ramps over the
overlaps), added up, and divided by the summed weights unless the ramps of every axis already sum
to one (then the sum is the result, with no division).

Decode: the spatial tile is `tile_px` along the long side and scaled by the aspect ratio along the
other (what ltx-core's pipelines pass); frames are yielded as soon as no later temporal tile overlaps
them, so memory is bounded by one temporal slice of the output.
Encode: `tile_px` along both sides; a tile's pixels are those its latent cells stand for.
LTX-2.5's diffusion decoder tiles after its third stage instead: ltx.vae.diffusion_tiling.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from ltx.vae.video import VideoDecoder, VideoEncoder, check_video_shape, to_frames

# One axis of a tiling: (input slice, output slice, 1-D blend weights in output units).
Axis = list[tuple[slice, slice, torch.Tensor]]
_UNTILED = torch.ones(1)  # broadcasts over an axis that is not tiled
_MIN_ENCODE_OVERLAP = (16, 64)  # frames, pixels: what covers the encoder's padding at a tile's edge


@dataclass(frozen=True)
class Tiling:
    """Tile sizes in pixels / frames; None switches tiling off along that axis. The defaults are
    ltx-core 1.2.0's (768 px tiles with 64 px overlap, 80-frame tiles with 24-frame overlap; 1.0.0
    used 512 / 64 and 64 / 24). Sizes must be multiples of the VAE's scale (32 px, 8 frames for the
    shipped files) and at least two latent cells; encoding needs overlaps of >= 64 px / 16 frames."""

    tile_px: int | None = 768
    overlap_px: int = 64
    tile_frames: int | None = 80
    overlap_frames: int = 24

    def __post_init__(self) -> None:
        for tile, overlap in ((self.tile_px, self.overlap_px), (self.tile_frames, self.overlap_frames)):
            if tile is not None and not 0 <= overlap < tile:
                raise ValueError(
                    f"a tile overlap must be >= 0 and below the tile size, got tile {tile}, overlap {overlap}"
                )

    def check(self, time_scale: int, space_scale: int, *, encode: bool = False) -> None:
        """Raise unless the sizes fit a VAE of this scale (and, to encode, the overlaps suffice)."""
        axes = (
            ("tile_frames", self.tile_frames, self.overlap_frames, time_scale, _MIN_ENCODE_OVERLAP[0], "frames"),
            ("tile_px", self.tile_px, self.overlap_px, space_scale, _MIN_ENCODE_OVERLAP[1], "px"),
        )
        for name, tile, overlap, scale, least, unit in axes:
            if tile is None:
                continue
            if tile < 2 * scale or tile % scale or overlap % scale:
                raise ValueError(
                    f"{name} {tile} with overlap {overlap}: this VAE needs tiles of at least {2 * scale} {unit}, "
                    f"tile and overlap multiples of {scale}"
                )
            if encode and overlap < least:
                raise ValueError(f"tiled encode needs an overlap of at least {least} {unit}, got {overlap}")


def split(length: int, size: int, overlap: int, min_size: int = 1) -> list[tuple[int, int, int, int]]:
    """(start, end, left ramp, right ramp) of tiles of `size` overlapping by `overlap`; the last one
    ends at `length`. A last tile shorter than `min_size` starts earlier (overlapping its neighbour more)."""
    if length <= size or length < min_size:
        return [(0, length, 0, 0)]
    n = (length + size - 2 * overlap - 1) // (size - overlap)
    starts = [i * (size - overlap) for i in range(n)]
    ends = [s + size for s in starts[:-1]] + [length]
    tiles = [
        (s, e, overlap if i else 0, overlap if i < n - 1 else 0)
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]
    if length - starts[-1] < min_size:
        (s, e, left, _), (_, end, _, right) = tiles[-2], tiles[-1]
        grown = e - (end - min_size)
        tiles[-2:] = [(s, e, left, grown), (end - min_size, end, grown, right)]
    return tiles


def split_causal(length: int, size: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """`split` along time, every tile after the first starting (and ramping) one frame earlier."""
    tiles = split(length, size, overlap)
    return tiles[:1] + [(s - 1, e, left + 1, right) for s, e, left, right in tiles[1:]]


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


def _latent_tiles(length: int, size: int | None, overlap: int, scale: int, causal: bool):
    """The latent intervals of one axis, with size / overlap given in pixels or frames."""
    if size is None:
        return None
    size, overlap = max(max(2, overlap // scale + 1), size // scale), overlap // scale
    return (split_causal if causal else split)(length, size, overlap)


def _time_axis(tiles, scale: int, to_pixels: bool) -> Axis:
    """Latent time intervals -> (latent slice, pixel slice, weights): weights in pixel frames when
    decoding (`to_pixels`), in latent frames when encoding (then the slices swap roles)."""
    axis = []
    for s, e, left, right in tiles:
        latent, pixels = slice(s, e), slice(s * scale, 1 + (e - 1) * scale)
        if to_pixels:
            ramp_in = 0 if left == 0 else 1 + (left - 1) * scale
            axis.append((latent, pixels, trapezoid(pixels.stop - pixels.start, ramp_in, right * scale, True)))
        else:
            axis.append((pixels, latent, trapezoid(e - s, left, right, True)))
    return axis


def _space_axis(tiles, scale: int, to_pixels: bool) -> Axis:
    axis = []
    for s, e, left, right in tiles:
        latent, pixels = slice(s, e), slice(s * scale, e * scale)
        if to_pixels:
            axis.append((latent, pixels, trapezoid((e - s) * scale, left * scale, right * scale)))
        else:
            axis.append((pixels, latent, trapezoid(e - s, left, right)))
    return axis


WHOLE: Axis = [(slice(None), slice(None), _UNTILED)]


def complementary(axes: Sequence[Axis], lengths: Sequence[int]) -> bool:
    """Whether on every axis the weights of the tiles sum to one (within 1e-5)."""
    for axis, length in zip(axes, lengths, strict=True):
        total = torch.zeros(length)
        for _, out, weights in axis:
            total[out] += weights
        if not torch.allclose(total, torch.ones(length), atol=1e-5, rtol=0.0):
            return False
    return True


def weighted(x: torch.Tensor, t: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x times the separable weights, one axis after the other (the official rounding order)."""
    return x * t.view(-1, 1, 1) * h.view(-1, 1) * w


def unit_weights(tile: torch.Tensor) -> torch.Tensor:
    """Float32 ones for one channel of `tile`: its share of the summed weights."""
    return torch.ones(1, 1, *tile.shape[2:], dtype=torch.float32, device=tile.device)


# -- decode ----------------------------------------------------------------------------------------
def _decode_axes(decoder: VideoDecoder, latent: torch.Tensor, tiling: Tiling) -> list[Axis]:
    _, _, f, h, w = latent.shape
    t_scale, s_scale = decoder.cfg.time_scale, decoder.cfg.space_scale
    tiles = _latent_tiles(f, tiling.tile_frames, tiling.overlap_frames, t_scale, causal=True)
    axes = [WHOLE if tiles is None else _time_axis(tiles, t_scale, to_pixels=True)]
    long_side = max(h, w)
    for length in (h, w):
        if tiling.tile_px is None:
            axes.append(WHOLE)
            continue
        size, overlap = tiling.tile_px // s_scale, tiling.overlap_px // s_scale
        size = max(max(2, overlap + 1), round(size * length / long_side))  # the aspect-scaled tile, in latents
        axes.append(_space_axis(split(length, size, overlap), s_scale, to_pixels=True))
    return axes


def tile_inputs(decoder: VideoDecoder, latent: torch.Tensor, tiling: Tiling) -> list[tuple[slice, slice, slice]]:
    """The (time, height, width) latent slices of the conv decoder's tiles, in the order tiled_decode decodes them."""
    t_axis, h_axis, w_axis = _decode_axes(decoder, latent, tiling)
    return [(t[0], h[0], w[0]) for t in t_axis for h in h_axis for w in w_axis]


def tiled_decode(decoder, latent: torch.Tensor, tiling=Tiling(), decode_tile=None, **kwargs) -> Iterator[torch.Tensor]:
    """Yield the decoded video (B, 3, frames, H, W) in consecutive temporal chunks; `kwargs` go to
    the decoder (timestep, noise_scale, generator: the tiles draw their noise in turn). `decode_tile(latent tile)`
    replaces the decoder's call per tile (ltx.parallel: tiles decoded by other processes).

    LTX-2.5's diffusion decoder tiles its own way (ltx.vae.diffusion_tiling): give it a DiffusionTiling,
    or a `Tiling` to have its tiles chosen for the memory free now, as the official pipelines choose them."""
    from ltx.vae import diffusion_tiling as diffusion  # (it builds on this module)

    if isinstance(decoder, diffusion.DiffusionVideoDecoder):
        yield from diffusion.tiled_decode(decoder, latent, diffusion.resolve(tiling, decoder, latent.shape), **kwargs)
        return
    if not isinstance(tiling, Tiling):
        raise TypeError(f"the conv video decoder tiles with a Tiling, got {type(tiling).__name__}")
    tiling.check(decoder.cfg.time_scale, decoder.cfg.space_scale)
    b, _, f, h, w = latent.shape
    t_scale, s_scale = decoder.cfg.time_scale, decoder.cfg.space_scale
    full = (1 + (f - 1) * t_scale, h * s_scale, w * s_scale)
    t_axis, h_axis, w_axis = _decode_axes(decoder, latent, tiling)
    divide = not complementary((t_axis, h_axis, w_axis), full)
    prev = prev_weights = prev_out = None
    for t_in, t_out, t_mask in t_axis:
        t_out = slice(t_out.start or 0, full[0] if t_out.stop is None else t_out.stop)
        length = t_out.stop - t_out.start
        buffer = latent.new_zeros(b, decoder.cfg.out_channels, length, *full[1:])
        weights = latent.new_zeros(1, 1, length, *full[1:]) if divide else None
        for h_in, h_out, h_mask in h_axis:
            for w_in, w_out, w_mask in w_axis:
                part = latent[:, :, t_in, h_in, w_in]
                tile = decoder(part, **kwargs) if decode_tile is None else decode_tile(part)
                n = min(length, tile.shape[2])
                masks = [m.to(latent.device) for m in (t_mask[:n], h_mask, w_mask)]
                buffer[:, :, :n, h_out, w_out] += weighted(tile[:, :, :n], *masks)
                if divide:
                    weights[:, :, :n, h_out, w_out] += weighted(unit_weights(tile[:, :, :n]), *masks)
                del tile
        if prev is not None:
            overlap = prev_out.stop - t_out.start
            if overlap > 0:  # fold the overlap into both chunks
                k = t_out.start - prev_out.start
                prev[:, :, k:] += buffer[:, :, :overlap]
                buffer[:, :, :overlap] = prev[:, :, k:]
                if divide:
                    prev_weights[:, :, k:] += weights[:, :, :overlap]
                    weights[:, :, :overlap] = prev_weights[:, :, k:]
            done = t_out.start - prev_out.start
            yield (prev / prev_weights.clamp(min=1e-8) if divide else prev)[:, :, :done]
        prev, prev_weights, prev_out = buffer, weights, t_out
    yield prev / prev_weights.clamp(min=1e-8) if divide else prev


def decode(decoder, latent: torch.Tensor, tiling=None, **kwargs) -> torch.Tensor:
    """The whole video at once, tiled or not."""
    if tiling is None:
        return decoder(latent, **kwargs)
    return torch.cat(list(tiled_decode(decoder, latent, tiling, **kwargs)), dim=2)


def decode_frames(decoder, latent: torch.Tensor, tiling=None, **kwargs) -> Iterator[torch.Tensor]:
    """What ltx-core 1.2.0's `decode_video` yields, for every sample: float frames (B, frames, H, W, 3)
    in [0, 1], chunk by chunk when tiled (one chunk otherwise)."""
    if tiling is None:
        yield to_frames(decoder(latent, **kwargs))
        return
    for chunk in tiled_decode(decoder, latent, tiling, **kwargs):
        yield to_frames(chunk)


# -- encode ----------------------------------------------------------------------------------------
def tiled_encode(
    encoder: VideoEncoder, video: torch.Tensor, tiling: Tiling = Tiling(), crop: bool = False, **kwargs
) -> torch.Tensor:
    """Normalised latents of `video`, encoded tile by tile (tiles move to the encoder's device)."""
    cfg = encoder.cfg
    tiling.check(cfg.time_scale, cfg.space_scale, encode=True)
    param = next(encoder.parameters())
    video = video[:, :, : check_video_shape(video.shape, crop, cfg.time_scale, cfg.space_scale)]
    b, _, f, h, w = video.shape
    lengths = ((f - 1) // cfg.time_scale + 1, h // cfg.space_scale, w // cfg.space_scale)
    tiles = _latent_tiles(lengths[0], tiling.tile_frames, tiling.overlap_frames, cfg.time_scale, causal=True)
    axes = [WHOLE if tiles is None else _time_axis(tiles, cfg.time_scale, to_pixels=False)]
    for length in lengths[1:]:
        tiles = _latent_tiles(length, tiling.tile_px, tiling.overlap_px, cfg.space_scale, causal=False)
        axes.append(WHOLE if tiles is None else _space_axis(tiles, cfg.space_scale, to_pixels=False))
    divide = not complementary(axes, lengths)
    latent = torch.zeros(b, cfg.latent_channels, *lengths, device=param.device, dtype=param.dtype)
    weights = torch.zeros(1, 1, *lengths, device=param.device, dtype=param.dtype) if divide else None
    for t_in, t_out, t_mask in axes[0]:
        for h_in, h_out, h_mask in axes[1]:
            for w_in, w_out, w_mask in axes[2]:
                tile = encoder(video[:, :, t_in, h_in, w_in].to(param), **kwargs)
                masks = [m.to(param.device) for m in (t_mask, h_mask, w_mask)]
                latent[:, :, t_out, h_out, w_out] += weighted(tile, *masks)
                if divide:
                    weights[:, :, t_out, h_out, w_out] += weighted(unit_weights(tile), *masks)
    return latent / weights.clamp(min=1e-8) if divide else latent
