"""LTX-Video 0.9.x multi-scale generation, as ltx-video 0.1.2's LTXMultiScalePipeline (the 0.9.7 / 0.9.8 recipes):

1. a first pass at `downscale` (2/3) of the size, each side rounded down to a multiple of 32, ending in latents;
2. those latents upsampled x2 by the latent upsampler (on un-normalised latents, the VAE's statistics) and matched
   per (sample, channel) in mean and std to the first pass's (AdaIN);
3. a second pass at twice the first pass's size starting from them (its first timestep below 1: its own timesteps or
   skipped initial steps), with the same conditions resized to that size, then decoded;
4. the frames resized (bilinear) to the requested size when the passes' sizes do not divide it.
The random generators carry on from the first pass into the second, as the official's do.

RECIPES holds the two passes' settings of the official 0.9.7 configs (configs/ltxv-13b-0.9.7-{dev,distilled}.yaml);
the STG blocks there are the 13B's (48 blocks), so give a 2B file its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from einops import rearrange

from ltx.pipelines.ltxv import GuidanceInterval, LTXVRequest, LTXVResult, ltxv_generate
from ltx.vae.upsampler import LatentUpsampler, adain, upsample_latents
from ltx.vae.video import VideoDecoder, VideoEncoder


@dataclass(frozen=True)
class Recipe:
    """The two passes' request changes, on top of the caller's request (its size is the output's)."""

    first: dict
    second: dict
    downscale: float = 0.6666666  # the official configs' value

    def with_stg_blocks(self, blocks: tuple[int, ...]) -> Recipe:
        """The same recipe skipping `blocks` wherever it runs STG (the configs name the 13B's blocks)."""

        def change(p: dict) -> dict:
            guidance = tuple(replace(g, stg_blocks=tuple(blocks)) for g in p.get("guidance", ()))
            return {**p, "stg_blocks": tuple(blocks), **({"guidance": guidance} if guidance else {})}

        return replace(self, first=change(self.first), second=change(self.second))


RECIPES = {
    "distilled": Recipe(
        first=dict(
            timesteps=(1.0, 0.9937, 0.9875, 0.9812, 0.975, 0.9094, 0.725),
            guidance_scale=1.0,
            stg_scale=0.0,
            rescaling=1.0,
            stg_blocks=(42,),
        ),  # fmt: skip
        second=dict(
            timesteps=(0.9094, 0.725, 0.4219), guidance_scale=1.0, stg_scale=0.0, rescaling=1.0, stg_blocks=(42,)
        ),  # fmt: skip
    ),
    "dev": Recipe(
        first=dict(
            steps=30,
            skip_final_steps=3,
            cfg_star=True,
            guidance=tuple(
                GuidanceInterval(start, cfg, stg, rescale, blocks)
                for start, cfg, stg, rescale, blocks in (
                    (1.0, 1, 0, 1, ()),
                    (0.996, 1, 4, 1, (11, 25, 35, 39)),
                    (0.9933, 6, 4, 0.5, (22, 35, 39)),
                    (0.9850, 8, 4, 0.5, (28,)),
                    (0.9767, 6, 4, 1, (28,)),
                    (0.9008, 1, 2, 1, (28,)),
                    (0.6180, 1, 1, 1, (28,)),
                )
            ),
        ),
        second=dict(steps=30, skip_initial_steps=3, cfg_star=True, guidance=(GuidanceInterval(1.0, 1, 1, 1, (27,)),)),
    ),
}


def pass_sizes(height: int, width: int, downscale: float, multiple: int = 32) -> tuple[int, int]:
    """The first pass's (height, width): each side times `downscale`, rounded down to `multiple`."""
    h, w = int(height * downscale), int(width * downscale)
    return h - h % multiple, w - w % multiple


@torch.no_grad()
def ltxv_multiscale(
    transformer,
    decoder: VideoDecoder | None,
    upsampler: LatentUpsampler,
    encoder: VideoEncoder,
    context: torch.Tensor,
    context_mask: torch.Tensor,
    negative_context: torch.Tensor | None,
    negative_mask: torch.Tensor | None,
    req: LTXVRequest,
    recipe: Recipe | str = "distilled",
    *,
    generator: torch.Generator,
    aux_generator: torch.Generator | None = None,
    conditions=(),
) -> LTXVResult:
    """Two passes (see the module's doc) for `req`'s size; `recipe` a Recipe or a RECIPES name. `encoder` gives the
    latent statistics the upsampler works with (and encodes the conditions)."""
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {sorted(RECIPES)} or a Recipe, got {recipe!r}")
        recipe = RECIPES[recipe]
    if encoder is None or upsampler is None:
        raise ValueError("the multi-scale pipeline needs the VAE encoder (its latent statistics) and the upsampler")
    if upsampler.cfg.temporal_upsample or not upsampler.cfg.spatial_upsample or upsampler.cfg.spatial_scale != 2:
        raise ValueError("the multi-scale pipeline needs a spatial x2 latent upsampler")
    h, w = pass_sizes(req.height, req.width, recipe.downscale)
    if min(h, w) < 32:
        raise ValueError(f"{req.height}x{req.width} at {recipe.downscale:g} is below 32 px on a side: too small for "
                         "two passes")  # fmt: skip
    first = replace(req, height=h, width=w, **recipe.first)
    second = replace(req, height=2 * h, width=2 * w, **recipe.second)
    text = (context, context_mask, negative_context, negative_mask)
    common = dict(generator=generator, aux_generator=aux_generator, conditions=conditions, encoder=encoder)
    low = ltxv_generate(transformer, None, *text, first, **common).latent
    up = upsample_latents(low.to(next(upsampler.parameters()).dtype), upsampler, encoder.per_channel_statistics)
    out = ltxv_generate(transformer, decoder, *text, second, latents=adain(up.to(low.dtype), low), **common)
    video = out.video
    if video is not None and tuple(video.shape[-2:]) != (req.height, req.width):
        flat = F.interpolate(rearrange(video, "b c f h w -> (b f) c h w"), size=(req.height, req.width),
                             mode="bilinear", align_corners=False)  # fmt: skip
        video = rearrange(flat, "(b f) c h w -> b c f h w", b=video.shape[0])
    return LTXVResult(out.latent, video)
