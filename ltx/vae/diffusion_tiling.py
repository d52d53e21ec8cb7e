"""Tiled decoding with the LTX-2.5 diffusion decoder, as ltx-core 1.2.0 tiles it.

Stages 1-3 run once on the whole latent; stages 4 and 5 run tile by tile. Tiles are cut on the grid of
stage 4's input (one cell = 2 frames x 8 x 8 pixels for the shipped files) and must overlap by at least
what the two stages' windows see past a tile's edge (`DiffusionDecoderConfig.tile_overlap`: 8 frames and
96 pixels for the shipped files). A tile that does not start at frame 0 keeps its leading upsampled frame,
so along time it covers pixel frames [2 s - 1, 2 e - 1) of the cells [s, e); only a tile that reaches the
end carries the trailing latent copies through stage 4. Each tile denoises its slice of the one noise draw
of the whole video (edge-extended to the tile's stage-5 canvas) and its pixels are blended with
symmetric linear ramps over the overlaps, which sum to one (else the blend is divided by the summed
weights). The blend accumulates in float16 for bfloat16 features (else in their dtype); chunks of frames
are yielded as soon as no later tile reaches them.

`recommend` picks the tiling the official pipelines pick for a memory budget (ltx-core's estimate of
the eager modes' peak, then the least recomputed overlap); `auto_tiling` (what `--tiling` asks for) picks
the same way for our decoder's own, larger, stage-5 working set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ltx.config.diffusion_vae import DiffusionDecoderConfig
from ltx.vae.diffusion import DiffusionVideoDecoder, resize_axis
from ltx.vae.tiling import WHOLE, Axis, complementary, split, trapezoid, unit_weights, weighted

GIB = 1 << 30


@dataclass(frozen=True)
class DiffusionTiling:
    """Tile sizes of the diffusion decoder's stages 4-5 in frames / pixels (None: that axis whole), and the
    overlaps of neighbouring tiles (frames; pixels along H and W)."""

    frames: int | None = None
    height: int | None = None
    width: int | None = None
    overlap_frames: int = 0
    overlap_px: int = 0

    def check(self, cfg: DiffusionDecoderConfig) -> None:
        """Raise unless every tiled axis fits this decoder: sizes and overlaps on its tile grid, tiles no
        smaller than its least tile, overlaps no smaller than what its windows reach."""
        least_overlap = dict(zip(("frames", "px"), cfg.tile_overlap, strict=True))
        for axis, size, overlap, scale, least in zip(
            ("frames", "height", "width"), (self.frames, self.height, self.width),
            (self.overlap_frames, self.overlap_px, self.overlap_px), cfg.tile_scale, cfg.tile_min, strict=True,
        ):  # fmt: skip
            if size is None:
                continue
            unit = "frames" if axis == "frames" else "px"
            if size % scale or overlap % scale or size < least * scale:
                raise ValueError(
                    f"diffusion-decoder tile {axis} {size} with overlap {overlap} {unit}: sizes and overlaps must be "
                    f"multiples of {scale} and tiles at least {least * scale} {unit}"
                )
            if not least_overlap[unit] <= overlap < size:
                raise ValueError(
                    f"diffusion-decoder tile {axis} {size}: the overlap must be at least {least_overlap[unit]} {unit} "
                    f"(what stages 4-5 see past a tile's edge) and below the tile, got {overlap}"
                )


def _axis(length: int, size: int | None, overlap: int, scale: int, least: int, time: bool) -> Axis:
    """(cells of stage 4's input, pixels, blend weights) of one axis's tiles."""
    if size is None:
        return WHOLE
    cells = split(length, max(max(2, overlap // scale + 1), size // scale), overlap // scale, least)
    if len(cells) == 1:
        return WHOLE
    axis = []
    for s, e, left, right in cells:
        start, end = s * scale, e * scale
        if time and scale == 2:  # the upsample's duplicate frame: dropped at 0, kept (one frame back) elsewhere
            start, end = start - (s > 0), end - 1
        axis.append((slice(s, e), slice(start, end), trapezoid(end - start, left * scale, right * scale)))
    return axis


def stage4_size(cfg: DiffusionDecoderConfig, t: int, h: int, w: int) -> tuple[int, int, int]:
    """(T, H, W) of stage 4's input for a latent of (t, h, w)."""
    for (st, sh, sw), _ in cfg.upsamples[:3]:
        t, h, w = t * st - (st == 2), h * sh, w * sw
    return t, h, w


def tiled_decode(
    decoder: DiffusionVideoDecoder,
    latent: torch.Tensor,
    tiling: DiffusionTiling,
    generator: torch.Generator | None = None,
) -> Iterator[torch.Tensor]:
    """Yield the decoded video (B, 3, frames, H, W) in [-1, 1], in consecutive chunks of frames."""
    cfg = decoder.cfg
    tiling.check(cfg)
    b, _, t, h, w = latent.shape
    frames, height, width = 8 * (t - 1) + 1, 32 * h, 32 * w
    latent, top, left = decoder.pad_latent(latent)
    full = (8 * (latent.shape[2] - 1) + 1, 32 * latent.shape[3], 32 * latent.shape[4])
    features = decoder.features(resize_axis(latent, 2, latent.shape[2] + cfg.trailing_latent_frames))
    content = stage4_size(cfg, *latent.shape[2:])
    sizes = (tiling.frames, tiling.height, tiling.width)
    overlaps = (tiling.overlap_frames, tiling.overlap_px, tiling.overlap_px)
    axes = [
        _axis(n, size, overlap, scale, least, time=a == 0)
        for a, (n, size, overlap, scale, least) in enumerate(
            zip(content, sizes, overlaps, cfg.tile_scale, cfg.tile_min, strict=True)
        )
    ]
    divide = not complementary(axes, full)
    levels = decoder.levels(b, latent.device)
    noise, draw_on = None, generator.device if generator is not None else latent.device
    if decoder.draws_whole_noise():
        noise = torch.randn((b, cfg.out_channels, *full), dtype=latent.dtype, generator=generator, device=draw_on)
        noise = noise.to(latent.device)
    accumulate = torch.float16 if features.dtype == torch.bfloat16 else features.dtype

    def tile_pixels(t_in: slice, h_in: slice, w_in: slice, out: tuple[slice, ...]) -> torch.Tensor:
        t0, t1, _ = t_in.indices(content[0])
        first, last = t0 == 0, t1 == content[0]
        feat = features[:, t0 : features.shape[1] if last else t1, h_in, w_in]
        context = decoder.stage4(feat, first=first, last=last)
        st, sh, sw = cfg.tile_scale
        canvas = (t1 - t0) * st - (first and st == 2)
        canvas = (max(canvas, cfg.stage5_kernel[0]) if last else canvas, feat.shape[2] * sh, feat.shape[3] * sw)
        lengths = [len(range(*sl.indices(n))) for sl, n in zip(out, full, strict=True)]
        if noise is None:
            x_t = torch.randn((b, cfg.out_channels, *canvas), dtype=latent.dtype, generator=generator, device=draw_on)
            x_t = x_t.to(latent.device)
        else:
            x_t = noise[:, :, out[0], out[1], out[2]]
            x_t = resize_axis(x_t, 2, canvas[0])
            for dim in (3, 4):
                x_t = resize_axis(x_t, dim, canvas[dim - 2], abs(canvas[dim - 2] - x_t.shape[dim]) // 2)
        pixels = decoder.denoise(context, x_t, levels)
        pixels = resize_axis(pixels, 2, lengths[0])
        for dim in (3, 4):
            pixels = resize_axis(pixels, dim, lengths[dim - 2], abs(pixels.shape[dim] - lengths[dim - 2]) // 2)
        return pixels.to(accumulate)

    def emit(buffer: torch.Tensor, weights: torch.Tensor | None, start: int) -> torch.Tensor | None:
        keep = min(buffer.shape[2], frames - start)
        if keep < 1:
            return None
        out = buffer[:, :, :keep]
        if weights is not None:
            out = out / weights[:, :, :keep].clamp(min=max(1e-8, torch.finfo(weights.dtype).tiny))
        return out[:, :, :, 32 * top : 32 * top + height, 32 * left : 32 * left + width].to(latent.dtype)

    t_axis, h_axis, w_axis = axes
    starts = [t_out.start or 0 for _, t_out, _ in t_axis]
    stub = stub_weights = None
    for i, (t_in, t_out, t_mask) in enumerate(t_axis):
        length = len(range(*t_out.indices(full[0])))
        buffer = torch.zeros(b, cfg.out_channels, length, *full[1:], dtype=accumulate, device=latent.device)
        weights = torch.zeros_like(buffer) if divide else None
        for h_in, h_out, h_mask in h_axis:
            for w_in, w_out, w_mask in w_axis:
                pixels = tile_pixels(t_in, h_in, w_in, (t_out, h_out, w_out))
                masks = [m.to(latent.device) for m in (t_mask, h_mask, w_mask)]
                buffer[:, :, :, h_out, w_out] += weighted(pixels, *masks)
                if divide:
                    weights[:, :, :, h_out, w_out] += weighted(unit_weights(pixels).to(accumulate), *masks)
        if stub is not None:  # the previous chunk's overlap with this one: add, and continue from the sum
            n = stub.shape[2]
            stub += buffer[:, :, :n]
            buffer[:, :, :n] = stub
            if divide:
                stub_weights += weights[:, :, :n]
                weights[:, :, :n] = stub_weights
        if i + 1 == len(t_axis):
            chunk = emit(buffer, weights, starts[i])
            if chunk is not None:
                yield chunk
            return
        own = min(max(0, starts[i + 1] - starts[i]), length)
        chunk = emit(buffer[:, :, :own], None if weights is None else weights[:, :, :own], starts[i])
        if chunk is not None:
            yield chunk
        stub = buffer[:, :, own:].clone()
        stub_weights = weights[:, :, own:].clone() if divide else None
        del buffer, weights


def decode(
    decoder: DiffusionVideoDecoder, latent: torch.Tensor, tiling: DiffusionTiling, generator=None
) -> torch.Tensor:
    """The whole video, decoded in tiles."""
    return torch.cat(list(tiled_decode(decoder, latent, tiling, generator)), dim=2)


# -- the official tile choice for a memory budget ------------------------------------------------------
def _up(n: int, m: int) -> int:
    return -(-n // m) * m


OFFICIAL_STAGE5_FACTOR = 5.0  # ltx-core's estimate of its eager modes' stage-5 working set, in tile volumes
STAGE5_FACTOR = 10.0  # ours (the context is kept at full resolution): measured on the H200, bench/diffusion_decode.py


def recommend(
    cfg: DiffusionDecoderConfig,
    height: int,
    width: int,
    frames: int,
    free_bytes: int,
    weight_bytes: int = 0,
    stage5_factor: float = OFFICIAL_STAGE5_FACTOR,
) -> DiffusionTiling:
    """The tiling ltx-core 1.2.0's pipelines choose (`recommended_decode_tiling_config`, eager modes) for a
    video of this size with `free_bytes` to spend: tiles on the grid of both the decoder's tile cell and the
    latent, at least twice the least overlap, whose estimated peak fits; of those the one that recomputes
    the least overlap (then the largest, then the fewest). The estimate: the resident input of stage 4 +
    a float16 blend buffer two tiles long + the stage-5 tile at `stage5_factor` x its width in bfloat16,
    leaving max(weights, 1 GiB) + 1 GiB aside. `auto_tiling` passes our decoder's own factor."""
    overlap_t, overlap_px = cfg.tile_overlap
    scale, least = cfg.tile_scale, cfg.tile_min
    steps = [math.lcm(s, g) for s, g in zip(scale, (8, 32, 32), strict=True)]
    floors = (16, 64, 64)
    overlaps = (overlap_t, overlap_px, overlap_px)
    minimum = [_up(max(2 * scale[a], 2 * overlaps[a], least[a] * scale[a], floors[a]), steps[a]) for a in range(3)]
    latent = ((frames - 1) // 8 + 1 + cfg.trailing_latent_frames, height // 32, width // 32)
    resident = math.prod(stage4_size(cfg, *latent)) * cfg.stage_channels[3] * 2
    usable = max(0, free_bytes - max(weight_bytes, GIB) - GIB - resident)
    per_token = max(1.0, cfg.c5 * 2 * stage5_factor)

    def candidates(length: int, overlap: int, low: int, step: int) -> list[tuple[int, int]]:
        top = max(_up(length, step), low)
        return [(size, len(split(length, size, overlap))) for size in range(low, top + step, step) if size > overlap]

    lengths = (frames, height, width)
    axes = [candidates(lengths[a], overlaps[a], minimum[a], steps[a]) for a in range(3)]
    best = None
    for tile_t, n_t in axes[0]:
        blend = 2 * tile_t * height * width * cfg.out_channels * 2
        if blend >= usable:
            continue
        tokens = int((usable - blend) // per_token)
        for tile_h, n_h in axes[1]:
            for tile_w, n_w in axes[2]:
                if tile_t * max(1, tile_h // cfg.patch_size) * max(1, tile_w // cfg.patch_size) > tokens:
                    continue
                waste = n_t * n_h * n_w * tile_t * tile_h * tile_w / max(1, frames * height * width)
                key = (waste, -tile_t * tile_h * tile_w, n_t * n_h * n_w, tile_t, tile_h, tile_w)
                best = key if best is None or key < best else best
    if best is None:
        raise ValueError(
            f"no diffusion-decoder tile of at least {minimum[0]} frames x {minimum[1]} x {minimum[2]} px fits in "
            f"{free_bytes / GIB:.1f} GiB for a {frames} x {height} x {width} video: free memory or decode smaller"
        )
    return DiffusionTiling(*best[3:], overlap_frames=overlap_t, overlap_px=overlap_px)


def free_memory(device: torch.device) -> int:
    """Bytes a decode may spend: on CUDA what the allocator can still get (under a per-process fraction,
    as ltx-core counts it), elsewhere the host's available memory."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        free, _ = torch.cuda.mem_get_info(index)
        cap = torch.cuda.get_per_process_memory_fraction(index) * torch.cuda.get_device_properties(index).total_memory
        return min(int(free), max(0, int(cap) - torch.cuda.memory_reserved(index)))
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def auto_tiling(decoder: DiffusionVideoDecoder, latent_shape) -> DiffusionTiling:
    """`recommend` for this latent with the memory free on the decoder's device now, for our decoder's working
    set (STAGE5_FACTOR): ltx-core's choice (OFFICIAL_STAGE5_FACTOR) can leave too little room for ours."""
    param = next(decoder.parameters())
    _, _, t, h, w = latent_shape
    weights = sum(p.numel() for p in decoder.parameters()) * 2  # as bfloat16, as ltx-core counts the file
    return recommend(decoder.cfg, 32 * h, 32 * w, 8 * (t - 1) + 1, free_memory(param.device), weights, STAGE5_FACTOR)


def resolve(tiling, decoder: DiffusionVideoDecoder, latent_shape) -> DiffusionTiling:
    """A DiffusionTiling as given; anything else (the conv decoder's `Tiling`) asks for `auto_tiling`."""
    return tiling if isinstance(tiling, DiffusionTiling) else auto_tiling(decoder, latent_shape)
